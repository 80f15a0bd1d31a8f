/** A separate process for the lock test: takes the lock of the directory in argv[2], releases it, and ends on its own. */
import { lockDeployment } from '../../../src/state/lock.js';

const release = await lockDeployment(process.argv[2] ?? '.', 'once');
await release();
process.stdout.write('released\n');
