// Opens N keep-alive client connections to a port, sends one GET on each, then keeps them all
// open and idle until SIGTERM. Prints "ready OPEN" once done. Usage: node bench/idle-clients.mjs PORT N
import net from 'node:net';
import { setInterval } from 'node:timers';
const [, , port, n = '10000'] = process.argv;
const socks = [];
let ready = 0;
let failed = 0;
const total = Number(n);
const req = Buffer.from('GET /idle HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
function open(i) {
  if (i >= total) return;
  const s = net.connect(Number(port), '127.0.0.1');
  s.setNoDelay(true);
  socks.push(s);
  let got = false;
  s.on('connect', () => s.write(req));
  s.on('data', () => {
    if (!got) {
      got = true;
      ready++;
      check();
    }
  });
  s.on('error', () => {
    if (!got) {
      got = true;
      failed++;
      check();
    }
  });
}
function check() {
  if (ready + failed === total) console.log(`ready ${socks.filter((s) => !s.destroyed).length} ${failed}`);
}
// Open in batches of 200 so the accept queue never overflows.
let next = 0;
const batch = () => {
  for (let k = 0; k < 200 && next < total; k++) open(next++);
  if (next < total) setTimeout(batch, 20);
};
batch();
process.on('SIGTERM', () => {
  for (const s of socks) s.destroy();
  process.exit(0);
});
setInterval(() => {}, 60_000);
