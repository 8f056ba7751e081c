// A node:test reporter that writes one JSON line per failed or cancelled test (scripts/run-tests.mjs
// reads them to name every failure at the end of the run, after the spec reporter's long output).
export default async function* failures(source) {
  for await (const event of source) {
    if (event.type !== 'test:fail') continue;
    const { name, file, nesting, details } = event.data;
    const error = details?.error;
    // A suite that failed only because a test in it did: the test is named already.
    if (error?.failureType === 'subtestsFailed') continue;
    const kind = error?.failureType === 'cancelledByParent' ? 'cancelled' : 'failed';
    const cause = error?.cause instanceof Error ? error.cause.message : (error?.cause ?? error?.message);
    yield `${JSON.stringify({ kind, name, file, nesting, reason: String(cause ?? '').split('\n')[0].slice(0, 200) })}\n`;
  }
}
