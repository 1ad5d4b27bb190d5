// Everything an entry script prints goes through here: lines, tables, progress and --json.
// Colours only on a TTY (and never with NO_COLOR); secrets are masked on the way out.
import { maskSecrets } from './secrets.js';

type Stream = NodeJS.WriteStream;

function useColour(stream: Stream): boolean {
  return Boolean(stream.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
}

const codes = { red: 31, green: 32, yellow: 33, blue: 34, dim: 2, bold: 1 } as const;
type Colour = keyof typeof codes;

export function paint(text: string, colour: Colour, stream: Stream = process.stdout): string {
  return useColour(stream) ? `\x1b[${codes[colour]}m${text}\x1b[0m` : text;
}

function write(stream: Stream, text: string): void {
  stream.write(maskSecrets(text) + '\n');
}

/** Human output. With --json, human lines go to stderr so stdout stays one JSON document. */
export class Output {
  constructor(readonly json = false) {}

  private get human(): Stream {
    return this.json ? process.stderr : process.stdout;
  }

  line(text = ''): void {
    write(this.human, text);
  }
  info(text: string): void {
    write(this.human, text);
  }
  step(text: string): void {
    write(this.human, `${paint('→', 'blue', this.human)} ${text}`);
  }
  ok(text: string): void {
    write(this.human, `${paint('✓', 'green', this.human)} ${text}`);
  }
  warn(text: string): void {
    write(process.stderr, `${paint('warning:', 'yellow', process.stderr)} ${text}`);
  }
  heading(text: string): void {
    write(this.human, paint(text, 'bold', this.human));
  }

  /** Machine output: the one JSON document on stdout. */
  data(value: unknown): void {
    write(process.stdout, JSON.stringify(value, null, 2));
  }

  table(rows: Record<string, unknown>[], columns?: string[]): void {
    write(this.human, renderTable(rows, columns));
  }

  /** A long step: a spinner on a TTY, a start line and an end line elsewhere. */
  async task<T>(label: string, fn: (update: (detail: string) => void) => Promise<T>): Promise<T> {
    const progress = new Progress(label, this.human);
    try {
      const result = await fn((detail) => progress.update(detail));
      progress.done(true);
      return result;
    } catch (err) {
      progress.done(false);
      throw err;
    }
  }
}

export function renderTable(rows: Record<string, unknown>[], columns?: string[]): string {
  const cols = columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown): string => {
    if (v === undefined || v === null) return '';
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return v.toString();
    return JSON.stringify(v);
  };
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const fmt = (values: string[]): string =>
    values
      .map((v, i) => v.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [
    fmt(cols.map((c) => c.toUpperCase())),
    fmt(widths.map((w) => '-'.repeat(w))),
    ...rows.map((r) => fmt(cols.map((c) => cell(r[c])))),
  ].join('\n');
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

class Progress {
  private timer?: NodeJS.Timeout;
  private frame = 0;
  private detail = '';
  private readonly started = Date.now();
  private readonly tty: boolean;

  constructor(
    private readonly label: string,
    private readonly stream: Stream,
  ) {
    this.tty = useColour(stream);
    if (this.tty) {
      this.timer = setInterval(() => this.render(), 100);
      this.timer.unref();
    } else {
      write(stream, `… ${label}`);
    }
  }

  update(detail: string): void {
    this.detail = detail;
    if (!this.tty) write(this.stream, `  ${this.label}: ${detail}`);
  }

  private render(): void {
    const text = `${FRAMES[this.frame++ % FRAMES.length]} ${this.label}${this.detail ? ` (${this.detail})` : ''}`;
    this.stream.write(`\r\x1b[K${maskSecrets(text)}`);
  }

  done(ok: boolean): void {
    if (this.timer) clearInterval(this.timer);
    const secs = ((Date.now() - this.started) / 1000).toFixed(1);
    const mark = ok ? paint('✓', 'green', this.stream) : paint('✗', 'red', this.stream);
    if (this.tty) this.stream.write('\r\x1b[K');
    write(this.stream, `${mark} ${this.label} (${secs}s)`);
  }
}
