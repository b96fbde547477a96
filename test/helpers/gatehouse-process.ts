// `gatehouse` run from source in a process of its own (tests that need several nodes).
import { main } from '../../src/cli.js';

await main(process.argv);
