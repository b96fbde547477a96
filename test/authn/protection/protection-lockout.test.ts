import { lockoutSuite } from '../../helpers/lockout-suite.js';

lockoutSuite('brute-force protection, counters in the database');
