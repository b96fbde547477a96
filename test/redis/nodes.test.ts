import { nodesSuite } from '../helpers/nodes-suite.js';
import { REDIS_URL } from './redis-url.js';

nodesSuite('brute-force counters in one Redis, shared by two nodes', { redisUrl: REDIS_URL! });
