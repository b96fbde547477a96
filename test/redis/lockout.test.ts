import { lockoutSuite } from '../helpers/lockout-suite.js';
import { REDIS_URL } from './redis-url.js';

lockoutSuite('brute-force protection, counters in Redis (GATEHOUSE_REDIS_URL)', { redisUrl: REDIS_URL! });
