import type { LoggerService } from '@nestjs/common';
import { writeSync } from 'node:fs';
import { Writable } from 'node:stream';
import winston from 'winston';
import { REDACTED, redact, redactText, SECRET_KEY } from './redact.js';

/**
 * One winston JSON logger for the whole process, writing to stdout. Access logs, audit records and
 * application messages share it and are told apart by `log_type`.
 */

const redactFormat = winston.format((info) => {
  for (const key of Object.keys(info)) {
    if (key === 'level' || key === 'timestamp') continue;
    info[key] = SECRET_KEY.test(key) ? REDACTED : redact(info[key]);
  }
  return info;
});

/**
 * The platform's log schema (loki/README.md, "Log schema") names the text `msg`, as Nginx's access
 * line does; winston calls it `message` internally, so it is renamed on the way out.
 */
const schemaFields = winston.format((info) => {
  const { message } = info;
  delete (info as Partial<typeof info>).message;
  info.msg = message;
  return info;
});

export type AppLogger = winston.Logger;

/**
 * Stdout is synchronous for files and pipes on Linux: one write(2) per log line costs more than
 * the rest of a cached request. Lines are gathered as strings (no Buffer per line) and written
 * once per event-loop turn (or every 64 KiB) as one UTF-8 buffer, and flushed synchronously when
 * the process exits.
 */
export class BatchedStdout extends Writable {
  private lines: string[] = [];
  private size = 0;
  private scheduled = false;
  private readonly flushSoon = () => this.flush();

  constructor(private readonly fd = 1) {
    super({ decodeStrings: false });
    process.once('exit', this.flushSoon);
  }

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writeLine(typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
    callback();
  }

  /** Queues one already formatted line (with its newline): the access log's path, no stream machinery. */
  writeLine(line: string): void {
    this.lines.push(line);
    this.size += line.length;
    if (this.size >= 64 * 1024) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushSoon);
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.size === 0) return;
    const data = Buffer.from(this.lines.join(''), 'utf8');
    this.lines = [];
    this.size = 0;
    let offset = 0;
    while (offset < data.length) {
      try {
        offset += writeSync(this.fd, data, offset);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return; // stdout gone: drop
      }
    }
  }
}

let timestampSecond = NaN;
let timestampPrefix = '';

/**
 * `new Date(now).toISOString()` (UTC, millisecond precision, e.g. 2026-11-29T23:00:29.042Z) without
 * a Date per call: the part up to the seconds is formatted once per second, as Nginx caches its
 * time strings.
 */
export function isoTimestamp(now = Date.now()): string {
  const ms = now % 1000;
  const second = now - ms;
  if (second !== timestampSecond) {
    timestampSecond = second;
    timestampPrefix = new Date(second).toISOString().slice(0, 20);
  }
  return timestampPrefix + (ms < 10 ? '00' : ms < 100 ? '0' : '') + ms + 'Z';
}

/** The stream under each logger made by createLogger, for logAccess. */
const loggerStreams = new WeakMap<AppLogger, NodeJS.WritableStream>();

/** One access log line's fields (loki/README.md, "Log schema"). */
export interface AccessLogFields {
  request_id: string;
  method: string;
  route: string;
  path: string;
  status: number;
  duration_ms: number;
  client_ip?: string;
  user_agent?: string;
}

/**
 * `"key":value,` for a string field, nothing when it is absent (JSON.stringify drops undefined);
 * client-supplied text is redacted as the winston pipeline's redact format does.
 */
function stringField(key: string, value: string | undefined, clientText: boolean): string {
  if (value === undefined) return '';
  return `"${key}":${JSON.stringify(clientText ? redactText(value) : value)},`;
}

/**
 * Writes an access line byte for byte as the winston pipeline of createLogger would (same keys,
 * sorted as logform's safe-stable-stringify sorts them, same redaction of client-supplied text),
 * without that pipeline's per-line cost (a Date, the redact and rename formats, a generic
 * stringify, a Buffer per line): the access log is written once per request, so it is on the hot
 * path. Only the client-supplied strings go through JSON.stringify; the rest are known-safe.
 */
export function logAccess(
  logger: AppLogger,
  level: string,
  fields: AccessLogFields,
  constants: AccessLineConstants = accessLineConstants(fields.method, fields.route, fields.path),
): void {
  const stream = loggerStreams.get(logger);
  if (stream === undefined) {
    logger.log(level, 'request', { log_type: 'access', ...fields });
    return;
  }
  if (!logger.isLevelEnabled(level)) return;
  const line =
    '{' +
    // client_ip is an address checked by isIP.
    stringField('client_ip', fields.client_ip, false) +
    `"duration_ms":${fields.duration_ms},"level":"${level}",` +
    constants.methodPath +
    stringField('request_id', fields.request_id, true) +
    constants.route +
    `"status":${fields.status},"timestamp":"${isoTimestamp()}",` +
    stringField('user_agent', fields.user_agent, true);
  const text = line.slice(0, -1) + '}\n';
  if (stream instanceof BatchedStdout) stream.writeLine(text);
  else stream.write(text);
}

/** The formatted parts of an access line that depend only on the method, route and path. */
export interface AccessLineConstants {
  methodPath: string;
  route: string;
}

/**
 * Made once per prepared answer by the fast path (its URL, hence its path, never changes), or per
 * line by logAccess. The method is a token Node's parser checked, the route a template of the code.
 */
export function accessLineConstants(method: string, route: string, path: string): AccessLineConstants {
  return {
    methodPath: `"log_type":"access",${stringField('method', method, false)}"msg":"request",${stringField('path', path, true)}`,
    route: stringField('route', route, false),
  };
}

export function createLogger(level: string, stream: NodeJS.WritableStream = new BatchedStdout()): AppLogger {
  const logger = winston.createLogger({
    level,
    format: winston.format.combine(
      winston.format.timestamp({ format: () => new Date().toISOString() }),
      redactFormat(),
      schemaFields(),
      winston.format.json(),
    ),
    transports: [new winston.transports.Stream({ stream })],
  });
  loggerStreams.set(logger, stream);
  return logger;
}

/** Adapts the winston logger to Nest's LoggerService so framework messages are JSON too. */
export class NestWinstonLogger implements LoggerService {
  constructor(
    private readonly logger: AppLogger,
    private readonly levels?: string[],
  ) {}

  log(message: unknown, context?: string): void {
    if (this.levels && !this.levels.includes('log')) return;
    this.write('info', message, context);
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.logger.error(String(message), { log_type: 'app', context, stack: trace });
  }
  warn(message: unknown, context?: string): void {
    this.write('warn', message, context);
  }
  debug(message: unknown, context?: string): void {
    if (this.levels && !this.levels.includes('debug')) return;
    this.write('debug', message, context);
  }
  verbose(message: unknown, context?: string): void {
    if (this.levels && !this.levels.includes('debug')) return;
    this.write('debug', message, context);
  }

  private write(level: string, message: unknown, context?: string): void {
    if (typeof message === 'object' && message !== null) {
      this.logger.log(level, 'message', { log_type: 'app', context, ...message });
    } else {
      this.logger.log(level, String(message), { log_type: 'app', context });
    }
  }
}

export const APP_LOGGER = Symbol('APP_LOGGER');
