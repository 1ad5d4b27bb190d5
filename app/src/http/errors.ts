import {
  type ArgumentsHost,
  BadRequestException,
  Catch,
  type ExceptionFilter,
  HttpException,
  HttpStatus,
  type PipeTransform,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { DependencyUnavailable, RETRY_AFTER_SECONDS } from './dependency.js';

declare module 'fastify' {
  interface FastifyRequest {
    unhandledError?: unknown;
  }
}

/**
 * One error body for every failure, whoever raised it (a pipe, a guard, a service, Fastify's body
 * parser, the router's 404):
 *   { "error": { "status": 400, "code": "validation_failed", "message": "...",
 *                "fields": [{ "field": "limit", "message": "..." }], "request_id": "..." } }
 */

export interface FieldProblem {
  field: string;
  message: string;
}

export interface ErrorBody {
  error: {
    status: number;
    code: string;
    message: string;
    fields?: FieldProblem[];
    request_id: string;
  };
}

const CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable_entity',
  429: 'too_many_requests',
  500: 'internal_error',
  503: 'service_unavailable',
};

const BODY_ERRORS = new Set(['FST_ERR_CTP_INVALID_JSON_BODY', 'FST_ERR_CTP_EMPTY_JSON_BODY']);

export class ValidationFailed extends BadRequestException {
  constructor(readonly fields: FieldProblem[]) {
    super(`invalid ${[...new Set(fields.map((f) => f.field))].join(', ')}`);
  }
}

export function buildErrorBody(
  status: number,
  message: string,
  requestId: string,
  fields?: FieldProblem[],
  code?: string,
): ErrorBody {
  return {
    error: {
      status,
      code: code ?? (fields ? 'validation_failed' : (CODES[status] ?? `http_${status}`)),
      message,
      ...(fields ? { fields } : {}),
      request_id: requestId,
    },
  };
}

export function sendError(reply: FastifyReply, request: FastifyRequest, err: unknown): void {
  let status: number = HttpStatus.INTERNAL_SERVER_ERROR;
  let message = 'internal server error';
  let fields: FieldProblem[] | undefined;
  if (err instanceof DependencyUnavailable) {
    // Logged once per burst where it was raised (http/dependency.ts), counted per request by the
    // access hook (http/hooks.ts): no stack per request.
    request.unavailableDependency = err.dependency;
    void reply
      .code(503)
      .header('retry-after', String(RETRY_AFTER_SECONDS))
      .header('content-type', 'application/json; charset=utf-8')
      .send(
        JSON.stringify(
          buildErrorBody(503, err.message, String(request.id), undefined, `${err.dependency}_unavailable`),
        ),
      );
    return;
  }
  if (err instanceof ValidationFailed) {
    status = 400;
    message = err.message;
    fields = err.fields;
  } else if (err instanceof HttpException) {
    status = err.getStatus();
    const response = err.getResponse();
    message =
      typeof response === 'string'
        ? response
        : typeof (response as { message?: unknown }).message === 'string'
          ? (response as { message: string }).message
          : err.message;
    if (status === 404 && /^Cannot /.test(message)) message = 'no such route';
    // Nest wraps Fastify's body-parser errors (bad JSON, empty body) in an HttpException.
    const code = (err.cause as { code?: unknown } | undefined)?.code;
    if (typeof code === 'string' && BODY_ERRORS.has(code)) fields = [{ field: 'body', message }];
  } else if (isFastifyClientError(err)) {
    status = err.statusCode;
    message = err.message;
    if (BODY_ERRORS.has(err.code)) {
      fields = [{ field: 'body', message: err.message }];
    }
  }
  if (status >= 500) {
    // The access log line reports it (see http/hooks.ts); the client gets no internals.
    request.unhandledError = err;
  }
  void reply
    .code(status)
    .header('content-type', 'application/json; charset=utf-8')
    .send(JSON.stringify(buildErrorBody(status, message, String(request.id), fields)));
}

function isFastifyClientError(err: unknown): err is { statusCode: number; code: string; message: string } {
  const e = err as { statusCode?: unknown; code?: unknown };
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof e.statusCode === 'number' &&
    e.statusCode >= 400 &&
    e.statusCode < 500 &&
    typeof e.code === 'string'
  );
}

@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    sendError(http.getResponse<FastifyReply>(), http.getRequest<FastifyRequest>(), exception);
  }
}

/** Validates and converts a query, body or params object with a zod schema. */
export class ZodPipe<S extends z.ZodType> implements PipeTransform<unknown, z.output<S>> {
  constructor(
    private readonly schema: S,
    private readonly prefix = '',
  ) {}

  transform(value: unknown): z.output<S> {
    const result = this.schema.safeParse(value ?? {});
    if (result.success) return result.data;
    const fields: FieldProblem[] = [];
    for (const issue of result.error.issues) {
      const path = [this.prefix, ...issue.path.map(String)].filter(Boolean).join('.');
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          fields.push({ field: path ? `${path}.${key}` : key, message: 'is not a known field' });
        }
      } else {
        fields.push({ field: path || 'body', message: issue.message });
      }
    }
    throw new ValidationFailed(fields);
  }
}
