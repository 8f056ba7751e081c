/** GET /api/openapi.json: the OpenAPI 3.1 document of every registered admin endpoint, generated from their response schemas. */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { AdminRouter } from './router.js';
import { textBody } from './schemas.js';

const REASONS: Record<number, string> = { 200: 'OK', 400: 'Bad request', 401: 'Missing or wrong bearer token', 404: 'Not found', 409: 'Conflict', 422: 'Invalid config', 503: 'Not available on this gateway' };

function version(): string {
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

function openApiDocument(router: AdminRouter): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const ep of router.endpoints) {
    const responses: Record<string, unknown> = {};
    for (const [status, schema] of Object.entries(ep.spec.responses)) {
      const text = schema === textBody;
      const { $schema: _drop, ...json } = z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;
      responses[status] = { description: REASONS[Number(status)] ?? 'Response', content: { [text ? 'text/plain' : 'application/json']: { schema: json } } };
    }
    const parameters = [
      ...ep.names.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
      ...Object.entries(ep.spec.query ?? {}).map(([name, description]) => ({ name, in: 'query', required: false, description, schema: { type: 'string' } })),
    ];
    (paths[ep.path] ??= {})[ep.method.toLowerCase()] = {
      summary: ep.spec.summary,
      ...(parameters.length ? { parameters } : {}),
      ...(ep.path === '/healthz' ? { security: [] } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Causeway admin API', version: version(), description: 'Served on the admin listener. Errors: { "error": { "code", "message", "details"? } }. See docs/admin.md.' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'admin.token; not required when the admin listener is on loopback and no token is set' } } },
    security: [{ bearer: [] }],
    paths,
  };
}

export function register(router: AdminRouter): void {
  let doc: Record<string, unknown> | undefined;
  router.get('/api/openapi.json', { summary: 'This document', responses: { 200: z.looseObject({ openapi: z.string(), paths: z.record(z.string(), z.unknown()) }) } }, () => (doc ??= openApiDocument(router)));
}
