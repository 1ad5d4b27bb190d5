// Answers the edge produces itself (issue 16 item 7): a huge URI or header, an oversized body, a
// TRACE, a malformed request, an unreachable API. Each is the API's JSON error shape
// ({ error: { status, code, message, request_id } }) with the request id, never Nginx's HTML page.
// Only Nginx runs here: its upstream is a free port nobody listens on.
import { expect } from 'chai';
import net from 'node:net';
import type { NginxInfo } from '../../scripts/lib/services/nginx.js';
import { freePort } from '../../scripts/lib/services/index.js';
import { useServices } from '../support/services.js';

interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends raw bytes on a new connection and parses the one HTTP/1.1 answer (the edge closes the connection after each). */
function raw(port: number, text: string): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const all = Buffer.concat(chunks).toString('latin1');
      const [head, ...rest] = all.split('\r\n\r\n');
      const [statusLine, ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
    // not end(): a half-closed client makes Nginx abandon a proxied request (499) before answering
    socket.setTimeout(30_000, () => socket.destroy(new Error('no answer within 30 s')));
    socket.write(text);
  });
}

describe('nginx: the edge answers its own errors as the API JSON error shape', function () {
  this.timeout(60_000);
  const stack = useServices([]);
  let edge: NginxInfo;

  before(async function () {
    this.timeout(60_000);
    const deadUpstream = `127.0.0.1:${await freePort()}`;
    edge = (await stack().start('nginx', { options: { environment: 'dev', upstreams: [deadUpstream] } })) as NginxInfo;
  });

  const cases: { what: string; request: () => string; status: number; code: string }[] = [
    {
      what: 'a 20 KB URI',
      request: () => `GET /v2/channels?q=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      status: 414,
      code: 'uri_too_long',
    },
    {
      what: 'a 20 KB header',
      request: () =>
        `GET /v2/channels HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\nConnection: close\r\n\r\n`,
      status: 431,
      code: 'header_too_large',
    },
    {
      what: 'an oversized body',
      request: () =>
        `POST /v2/admin/channels HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${10 * 1024 * 1024}\r\nConnection: close\r\n\r\n{}`,
      status: 413,
      code: 'payload_too_large',
    },
    {
      what: 'a TRACE',
      request: () => 'TRACE /v2/channels HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      status: 405,
      code: 'method_not_allowed',
    },
    {
      what: 'a malformed request line',
      request: () => 'GET /v2/channels HTTP/1.1 extra\r\nHost: x\r\nConnection: close\r\n\r\n',
      status: 400,
      code: 'bad_request',
    },
    {
      what: 'a malformed header',
      request: () => 'GET /v2/channels HTTP/1.1\r\nHost: x\r\nBad Header\r\nConnection: close\r\n\r\n',
      status: 400,
      code: 'bad_request',
    },
    {
      what: 'an internal error location asked for directly',
      request: () => 'GET /_edge_errors/400 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      status: 404,
      code: 'not_found',
    },
    {
      what: 'an unreachable API',
      request: () => 'GET /v2/channels HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      status: 502,
      code: 'upstream_unavailable',
    },
  ];

  for (const c of cases) {
    it(`${c.what}: ${c.status} JSON with the request id`, async function () {
      const reply = await raw(edge.port, c.request());
      expect(reply.status, reply.body.slice(0, 200)).to.equal(c.status);
      expect(reply.headers['content-type']).to.match(/^application\/json/);
      const body = JSON.parse(reply.body) as {
        error: { status: number; code: string; message: string; request_id: string };
      };
      expect(body.error).to.include({ status: c.status, code: c.code });
      expect(body.error.message).to.be.a('string').and.not.equal('');
      expect(body.error.request_id).to.match(/^[A-Za-z0-9._:-]{1,128}$/);
      expect(reply.headers['x-request-id']).to.equal(body.error.request_id);
      expect(reply.headers['x-content-type-options']).to.equal('nosniff');
    });
  }
});
