import { nodesSuite } from '../../helpers/nodes-suite.js';

nodesSuite('brute-force counters shared by two nodes on one database');
