/** One GET as a client sees it, tolerating a body cut mid-stream: the status, the request id, the error header, the body bytes that arrived. */
import http from 'node:http';

export interface ClientView {
  status: number;
  id: string;
  code: string | undefined;
  bytes: number;
}

export function getAsClient(url: string): Promise<ClientView> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let bytes = 0;
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          resolve({ status: res.statusCode!, id: res.headers['x-request-id'] as string, code: res.headers['x-causeway-error'] as string | undefined, bytes });
        };
        res.on('data', (d: Buffer) => (bytes += d.length));
        res.on('end', finish);
        res.on('error', finish);
        res.on('close', finish);
      })
      .on('error', reject);
  });
}
