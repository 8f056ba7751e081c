// gRPC bench backend: @grpc/grpc-js serving causeway.test.Echo/Unary (the test fixture proto) on
// h2c, answering every call at once. Prints its port.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';

const proto = fileURLToPath(new URL('../test/fixtures/grpc/echo.proto', import.meta.url));
const pkg = grpc.loadPackageDefinition(loader.loadSync(proto, { keepCase: true, defaults: true }));
const server = new grpc.Server();
server.addService(pkg.causeway.test.Echo.service, {
  Unary: (call, cb) => cb(null, { text: call.request.text, index: 0, served_by: 'bench' }),
});
server.bindAsync(`127.0.0.1:${Number(process.argv[2] ?? 0)}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  console.log(port);
});
