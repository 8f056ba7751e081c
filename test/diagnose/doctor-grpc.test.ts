/** `causeway doctor` on HTTP/2 targets: the preface and SETTINGS, then the standard gRPC health service. */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import * as B from '../helpers/backends.js';
import { afterBody, grpcBackend, grpcOk, rawH2Backend } from '../helpers/grpc.js';
import { formatDoctor, runDoctor } from '../../src/diagnose/doctor.js';

describe('doctor, h2c and h2 targets', { timeout: 60_000 }, () => {
  const closers: Array<{ close(): Promise<void> }> = [];
  after(async () => {
    for (const c of closers) await c.close();
  });

  it('a gRPC backend: tcp, the HTTP/2 preface answered, and grpc.health.v1 says SERVING', async () => {
    const b = await grpcBackend('a');
    closers.push(b);
    const r = await runDoctor({ target: b.url });
    assert.deepEqual(
      r.targets[0]!.steps.map((s) => [s.step, s.ok]),
      [
        ['tcp', true],
        ['h2', true],
        ['grpc', true],
      ],
    );
    assert.match(r.targets[0]!.steps[1]!.detail, /SETTINGS \(max concurrent streams unlimited\)/);
    assert.equal(r.targets[0]!.steps[2]!.detail, '/grpc.health.v1.Health/Check → SERVING');
    assert.equal(r.side, 'none');
    assert.equal(b.calls.Check, 1);
    assert.match(formatDoctor(r), /✓ grpc .* SERVING/);
  });

  it('a gRPC backend that says NOT_SERVING: reachable, with a warning', async () => {
    const b = await grpcBackend('a');
    closers.push(b);
    b.health = 'NOT_SERVING';
    const r = await runDoctor({ target: b.url });
    assert.equal(r.targets[0]!.ok, true);
    assert.equal(r.targets[0]!.steps[2]!.ok, false);
    assert.match(r.targets[0]!.warnings[0]!, /gRPC health service says NOT_SERVING/);
  });

  it('a TLS gRPC backend behind h2://: tls with ALPN h2, then the same checks', async () => {
    const b = await grpcBackend('tls', { tls: true });
    closers.push(b);
    const config = (await import('../../src/config/load.js')).parseConfig(
      `upstreams:\n  g: { targets: [{ url: "${b.url}" }], tls: { ca: "${B.CERT_FILE}", servername: localhost } }\nroutes: []\n`,
      'doctor.yaml',
      {},
    );
    const r = await runDoctor({ target: 'g', config, viaGateway: false });
    assert.deepEqual(
      r.targets[0]!.steps.map((s) => s.step),
      ['tcp', 'tls', 'h2', 'grpc'],
    );
    assert.ok(r.targets[0]!.ok);
  });

  it('an HTTP/2 backend without the health service: HTTP/2 checked only', async () => {
    const b = await rawH2Backend((stream, headers) =>
      afterBody(stream, () => {
        if (headers[':path'] === '/grpc.health.v1.Health/Check') stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true });
        else grpcOk(stream);
      }),
    );
    closers.push(b);
    const r = await runDoctor({ target: b.url });
    assert.equal(r.targets[0]!.ok, true);
    assert.match(r.targets[0]!.steps[2]!.detail, /does not implement grpc.health.v1.Health \(UNIMPLEMENTED\)/);
  });

  it('an h2c URL on an HTTP/1.1 port: the h2 step fails with UPSTREAM_PROTOCOL_MISMATCH and its fix', async () => {
    const b = await B.ok();
    closers.push(b);
    const r = await runDoctor({ target: `h2c://127.0.0.1:${b.port}` });
    const t = r.targets[0]!;
    assert.deepEqual(
      t.steps.map((s) => [s.step, s.ok]),
      [
        ['tcp', true],
        ['h2', false],
      ],
    );
    assert.equal(t.code, 'UPSTREAM_PROTOCOL_MISMATCH');
    assert.equal(r.side, 'backend');
  });
});
