/**
 * Checks an admin API response against the OpenAPI document the gateway serves: the schema for
 * its path template, method and status, turned back into a validator with zod. Endpoint modules
 * (src/admin/*.ts) use it in their tests so their documentation stays true.
 */
import assert from 'node:assert/strict';
import { z } from 'zod';
import type { Reply } from './wire.js';

interface Operation {
  responses: Record<string, { content: Record<string, { schema: Record<string, unknown> }> }>;
}
export type OpenApiDoc = { openapi: string; paths: Record<string, Record<string, Operation>> };

/** Asserts `r` (the answer to `method` on a path of `template`) matches the document; returns the body. */
export function assertDocumented(doc: OpenApiDoc, method: string, template: string, r: Reply): unknown {
  const op = doc.paths[template]?.[method.toLowerCase()];
  assert.ok(op, `${method} ${template} is documented`);
  const response = op.responses[String(r.status)];
  assert.ok(response, `${method} ${template} documents status ${r.status}`);
  const [type, media] = Object.entries(response.content)[0]!;
  assert.equal(r.headers['content-type']!.split(';')[0], type, `${method} ${template} content type`);
  const body = type === 'application/json' ? r.json() : r.text;
  const result = schemaOf(media.schema).safeParse(body);
  assert.ok(result.success, `${method} ${template} → ${r.status} does not match its schema: ${result.error?.message}\n${r.text.slice(0, 500)}`);
  return body;
}

export function schemaOf(json: Record<string, unknown>): z.ZodType {
  return z.fromJSONSchema(json as Parameters<typeof z.fromJSONSchema>[0]);
}
