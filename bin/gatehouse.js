#!/usr/bin/env node
// The one `gatehouse` binary. `npm start` builds dist/ first; see README.
import { main } from '../dist/main/cli.js';

await main(process.argv);
