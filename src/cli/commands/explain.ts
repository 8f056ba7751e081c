/** `causeway explain REQUEST_ID`: the timeline, classification, remedy and context of one logged call. */
import { ConfigError } from '../../config/load.js';
import { formatExplanation } from '../../diagnose/explain.js';
import { DEFAULT_ADMIN, callSource, findCall, type CallSource } from '../../diagnose/locate.js';
import { configPath, parse, UsageError, type Command } from '../args.js';

export const explain: Command = {
  name: 'explain',
  summary: 'causeway explain REQUEST_ID [-c FILE] [--db FILE] [--admin URL] [--json]  why one call failed, from the call log',
  help: `causeway explain REQUEST_ID [-c FILE] [--db FILE] [--admin URL] [--token TOKEN] [--json]

Finds one call and prints its timeline — each attempt with its target, phase timings (dns,
connect, tls, send, ttfb, body) as bars, outcome and why a retry followed — then the
classification with the cause in plain words, what the low-level error (errno, OpenSSL code)
means, the fix, and how many other calls to the same upstream failed the same way in the
5 minutes around it, on which targets. The request id is the X-Request-Id header of the response.

Where the call is looked up, the first that applies:
  --db FILE     that call log file;
  --admin URL   a running gateway's admin API (GET /api/calls/{id}); --token or
                $CAUSEWAY_ADMIN_TOKEN when it needs one;
  the config (-c, $CAUSEWAY_CONFIG, or ./causeway.yaml when it exists): with storage.url, the
                fleet's call log in PostgreSQL (whichever node served the call); else its
                storage.path, relative to the config file's directory — then, if the call is not
                there or the call log is in memory, the admin API of that config's gateway;
  otherwise the admin API at ${DEFAULT_ADMIN} (where \`npm start\` and \`causeway start\` serve it).
Works from any directory. Exit status: 0 found, 1 not found.`,
  async run(argv) {
    const { values, positionals } = parse(argv, {
      config: { type: 'string', short: 'c' },
      db: { type: 'string' },
      admin: { type: 'string' },
      token: { type: 'string' },
      json: { type: 'boolean' },
    });
    const id = positionals[0];
    if (!id) throw new UsageError('explain needs a REQUEST_ID (the X-Request-Id of the response)');
    let src: CallSource;
    try {
      const given = (values.config as string | undefined) ?? process.env['CAUSEWAY_CONFIG'];
      src = callSource({ db: values.db as string | undefined, admin: values.admin as string | undefined, token: values.token as string | undefined, config: configPath(given), configGiven: given !== undefined });
    } catch (err) {
      if (err instanceof ConfigError) {
        console.error(err.message);
        return 1;
      }
      throw err;
    }
    const found = await findCall(src, id);
    if (!found.ok) {
      console.error(`causeway: ${found.reason}`);
      return 1;
    }
    console.log(values.json ? JSON.stringify(found.explanation, null, 2) : formatExplanation(found.explanation));
    return 0;
  },
};
