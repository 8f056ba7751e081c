/** How many worker processes `workers:` means on this machine. */
import { availableParallelism } from 'node:os';
import type { Config } from '../config/schema.js';

/** `auto`: one per CPU this process may use (os.availableParallelism(), which honours CPU affinity). */
export function resolveWorkers(workers: Config['workers']): number {
  return workers === 'auto' ? Math.max(1, availableParallelism()) : workers;
}
