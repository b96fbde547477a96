/** The Redis the tests of test/redis use: required, never skipped (`npm run test:redis`). */
export const REDIS_URL = process.env.GATEHOUSE_TEST_REDIS_URL;
if (!REDIS_URL) {
  throw new Error('GATEHOUSE_TEST_REDIS_URL is not set: test/redis needs a Redis (e.g. redis://127.0.0.1:6379/0); .ci/run starts one');
}
