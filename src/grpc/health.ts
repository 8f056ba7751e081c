/**
 * The standard gRPC health service (grpc/grpc doc/health-checking.md), as active health checks
 * and `causeway doctor` call it: `grpc.health.v1.Health/Check` with an empty request (the
 * server's overall health), answered by a HealthCheckResponse whose field 1 is the status.
 */
import { grpcCodeName } from './status.js';

export const GRPC_HEALTH_PATH = '/grpc.health.v1.Health/Check';

/** An empty HealthCheckRequest, length-prefixed: "how is the server as a whole?" */
export const GRPC_HEALTH_REQUEST = Buffer.from([0, 0, 0, 0, 0]);

const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

export interface HealthVerdict {
  serving: boolean;
  /** SERVING, NOT_SERVING... or the gRPC status that answered instead (UNIMPLEMENTED: no health service). */
  status: string;
}

/**
 * Reads a Health/Check answer: the grpc-status (from trailers, or the headers of a trailers-only
 * answer; absent counts as OK when a message came) and the message's status field.
 */
export function healthVerdict(grpcStatus: string | undefined, body: Buffer): HealthVerdict {
  if (grpcStatus !== undefined && grpcStatus !== '0') return { serving: false, status: grpcCodeName(Number(grpcStatus)) };
  if (body.length < 5) return { serving: false, status: 'no response message' };
  const len = body.readUInt32BE(1);
  const msg = body.subarray(5, 5 + len);
  // Field 1, varint (tag 0x08); proto3 leaves a zero (UNKNOWN) out.
  let value = 0;
  for (let i = 0; i < msg.length - 1; i++) {
    if (msg[i] === 0x08) {
      value = msg[i + 1]! & 0x7f;
      break;
    }
  }
  const status = SERVING_STATUS[value] ?? `STATUS_${value}`;
  return { serving: value === 1, status };
}
