// `gatehouse` run from source in a process of its own (tests that need several nodes).
import { main } from '../../src/main/cli.js';

await main(process.argv);
