import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig, parseConfig } from '../../../src/platform/config.js';

const KEY = randomBytes(32).toString('base64');

/** Asserts that loading this environment fails with a ConfigError whose message names `key`. */
function assertRejected(env: NodeJS.ProcessEnv, key: string, configFile?: string) {
  assert.throws(
    () => loadConfig(env, configFile),
    (error: Error) => {
      assert.ok(error instanceof ConfigError, `a ConfigError, got ${error.name}: ${error.message}`);
      assert.ok(error.message.includes(key), `"${error.message}" names ${key}`);
      return true;
    },
  );
}

describe('configuration (docs/operations.md#configuration): GATEHOUSE_* variables and a --config file, validated once', () => {
  describe('defaults', () => {
    it('with nothing set: port 3000, host 127.0.0.1, issuer http://localhost:3000, PGlite in ./data resolved', () => {
      const config = loadConfig({});
      assert.equal(config.port, 3000);
      assert.equal(config.host, '127.0.0.1');
      assert.equal(config.issuer, 'http://localhost:3000');
      assert.equal(config.tokenIssuer, 'http://localhost:3000', 'no slash given, none in iss');
      assert.equal(config.databaseUrl, undefined);
      assert.equal(config.dataDir, resolve(process.cwd(), 'data'));
      assert.ok(config.dataDir.startsWith('/'), 'an absolute path');
      assert.equal(config.masterKey, undefined);
      assert.equal(config.logLevel, 'info');
      assert.equal(config.production, false);
      assert.equal(config.adminEmail, undefined);
      assert.equal(config.adminPassword, undefined);
      assert.equal(config.redisFailure, 'fallback', 'while Redis is down: the PostgreSQL counters');
    });

    it('derives the default issuer from GATEHOUSE_PORT', () => {
      assert.equal(loadConfig({ GATEHOUSE_PORT: '8080' }).issuer, 'http://localhost:8080');
    });

    it('reads GATEHOUSE_SHUTDOWN_GRACE in seconds (default 3, 0 to 300)', () => {
      assert.equal(loadConfig({}).shutdownGraceSeconds, 3);
      assert.equal(loadConfig({ GATEHOUSE_SHUTDOWN_GRACE: '0' }).shutdownGraceSeconds, 0);
      assert.equal(loadConfig({ GATEHOUSE_SHUTDOWN_GRACE: '1.5' }).shutdownGraceSeconds, 1.5);
      for (const bad of ['-1', 'soon', '301']) assertRejected({ GATEHOUSE_SHUTDOWN_GRACE: bad }, 'GATEHOUSE_SHUTDOWN_GRACE');
    });

    it('treats an empty variable as unset', () => {
      const config = loadConfig({ GATEHOUSE_PORT: '', GATEHOUSE_HOST: '', GATEHOUSE_MASTER_KEY: '' });
      assert.equal(config.port, 3000);
      assert.equal(config.host, '127.0.0.1');
      assert.equal(config.masterKey, undefined);
    });

    it('reads every documented variable', () => {
      const config = loadConfig({
        GATEHOUSE_PORT: '4100',
        GATEHOUSE_HOST: '0.0.0.0',
        GATEHOUSE_ISSUER: 'https://id.example.com/',
        GATEHOUSE_DATABASE_URL: 'postgresql://gh:pw@db.example.com:5432/gatehouse',
        GATEHOUSE_DATA_DIR: '/var/lib/gatehouse',
        GATEHOUSE_MASTER_KEY: KEY,
        GATEHOUSE_ADMIN_EMAIL: 'root@example.com',
        GATEHOUSE_ADMIN_PASSWORD: 'a-long-admin-password',
        GATEHOUSE_SMTP_URL: 'smtp://mail.example.com:25',
        GATEHOUSE_AMQP_URL: 'amqp://mq.example.com',
        GATEHOUSE_REDIS_URL: 'redis://cache.example.com:6379',
        GATEHOUSE_REDIS_FAILURE: 'closed',
        GATEHOUSE_LOG_LEVEL: 'warn',
      });
      assert.equal(config.port, 4100);
      assert.equal(config.host, '0.0.0.0');
      assert.equal(config.issuer, 'https://id.example.com', 'no trailing slash');
      // The slash given is kept for `iss` (Auth0's form, decision 385); links are built without it.
      assert.equal(config.tokenIssuer, 'https://id.example.com/');
      assert.equal(config.databaseUrl, 'postgresql://gh:pw@db.example.com:5432/gatehouse');
      assert.equal(config.dataDir, '/var/lib/gatehouse');
      assert.deepEqual(config.masterKey, Buffer.from(KEY, 'base64'));
      assert.equal(config.adminEmail, 'root@example.com');
      assert.equal(config.adminPassword, 'a-long-admin-password');
      assert.equal(config.smtpUrl, 'smtp://mail.example.com:25');
      assert.equal(config.amqpUrl, 'amqp://mq.example.com');
      assert.equal(config.redisUrl, 'redis://cache.example.com:6379');
      assert.equal(config.redisFailure, 'closed');
      assert.equal(config.logLevel, 'warn');
    });

    it('ignores variables without the GATEHOUSE_ prefix', () => {
      const config = loadConfig({ PORT: '9999', DATABASE_URL: 'postgres://elsewhere/db', HOST: '0.0.0.0' });
      assert.equal(config.port, 3000);
      assert.equal(config.databaseUrl, undefined);
      assert.equal(config.host, '127.0.0.1');
    });
  });

  describe('each invalid value is refused with a message that names its key', () => {
    for (const value of ['abc', '70000', '-1', '3.5', '80 80']) {
      it(`GATEHOUSE_PORT=${JSON.stringify(value)}`, () => assertRejected({ GATEHOUSE_PORT: value }, 'GATEHOUSE_PORT'));
    }
    for (const value of [
      'not a url',
      'ftp://id.example.com',
      'https://id.example.com/?tenant=a',
      'https://id.example.com/#x',
      'id.example.com',
    ]) {
      it(`GATEHOUSE_ISSUER=${JSON.stringify(value)}`, () => assertRejected({ GATEHOUSE_ISSUER: value }, 'GATEHOUSE_ISSUER'));
    }
    for (const [what, value] of [
      ['16 bytes', randomBytes(16).toString('base64')],
      ['33 bytes', randomBytes(33).toString('base64')],
      ['a passphrase', 'correct horse battery staple'],
    ] as const) {
      it(`GATEHOUSE_MASTER_KEY of ${what}, without echoing the value`, () => {
        assertRejected({ GATEHOUSE_MASTER_KEY: value }, 'GATEHOUSE_MASTER_KEY');
        assert.throws(
          () => loadConfig({ GATEHOUSE_MASTER_KEY: value }),
          (error: Error) => !error.message.includes(value),
        );
      });
    }
    for (const value of ['verbose', 'INFO', 'loud']) {
      it(`GATEHOUSE_LOG_LEVEL=${value}`, () => assertRejected({ GATEHOUSE_LOG_LEVEL: value }, 'GATEHOUSE_LOG_LEVEL'));
    }
    for (const value of ['mysql://root@localhost/gatehouse', 'sqlite:./gatehouse.db', './data', 'http://db.example.com']) {
      it(`GATEHOUSE_DATABASE_URL=${JSON.stringify(value)} (not postgres)`, () =>
        assertRejected({ GATEHOUSE_DATABASE_URL: value }, 'GATEHOUSE_DATABASE_URL'));
    }
    it('GATEHOUSE_REDIS_FAILURE other than fallback or closed', () =>
      assertRejected({ GATEHOUSE_REDIS_FAILURE: 'open' }, 'GATEHOUSE_REDIS_FAILURE'));
    it('GATEHOUSE_ADMIN_EMAIL that is not an email', () => assertRejected({ GATEHOUSE_ADMIN_EMAIL: 'admin' }, 'GATEHOUSE_ADMIN_EMAIL'));
    for (const name of ['GATEHOUSE_SMTP_URL', 'GATEHOUSE_AMQP_URL', 'GATEHOUSE_REDIS_URL']) {
      it(`${name} that is not a URL`, () => assertRejected({ [name]: 'not a url' }, name));
    }
  });

  describe('production', () => {
    it('NODE_ENV=production without GATEHOUSE_MASTER_KEY is refused, naming GATEHOUSE_MASTER_KEY', () => {
      assertRejected({ NODE_ENV: 'production' }, 'GATEHOUSE_MASTER_KEY');
      assertRejected({ NODE_ENV: 'production', GATEHOUSE_MASTER_KEY: '' }, 'GATEHOUSE_MASTER_KEY');
    });

    it('NODE_ENV=production with a master key and SMTP starts in production mode', () => {
      const config = loadConfig({ NODE_ENV: 'production', GATEHOUSE_MASTER_KEY: KEY, GATEHOUSE_SMTP_URL: 'smtp://mail.example.com:587' });
      assert.equal(config.production, true);
      assert.equal(config.masterKey?.length, 32);
      assert.equal(config.smtpFrom, 'Gatehouse <no-reply@localhost>');
    });

    it('NODE_ENV=production without GATEHOUSE_SMTP_URL is refused: lockout notices and codes go by email', () => {
      assertRejected({ NODE_ENV: 'production', GATEHOUSE_MASTER_KEY: KEY }, 'GATEHOUSE_SMTP_URL');
    });

    it('outside production the master key may be absent (generated into the data dir later)', () => {
      assert.equal(loadConfig({ NODE_ENV: 'development' }).production, false);
      assert.equal(parseConfig({}, false).masterKey, undefined);
    });
  });

  describe('the --config JSON file', () => {
    let dir: string;
    const file = (name: string, content: string) => {
      const path = join(dir, name);
      writeFileSync(path, content);
      return path;
    };

    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'gatehouse-config-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('supplies the same keys as the environment, numbers included', () => {
      const path = file(
        'full.json',
        JSON.stringify({
          port: 4000,
          host: '0.0.0.0',
          issuer: 'https://id.example.org',
          dataDir: join(dir, 'data'),
          logLevel: 'debug',
          masterKey: KEY,
        }),
      );
      const config = loadConfig({}, path);
      assert.equal(config.port, 4000);
      assert.equal(config.host, '0.0.0.0');
      assert.equal(config.issuer, 'https://id.example.org');
      assert.equal(config.dataDir, join(dir, 'data'));
      assert.equal(config.logLevel, 'debug');
      assert.deepEqual(config.masterKey, Buffer.from(KEY, 'base64'));
    });

    it('the environment wins over the file', () => {
      const path = file('port.json', JSON.stringify({ port: 4000, host: '0.0.0.0', logLevel: 'debug' }));
      const config = loadConfig({ GATEHOUSE_PORT: '5000', GATEHOUSE_LOG_LEVEL: 'error' }, path);
      assert.equal(config.port, 5000);
      assert.equal(config.logLevel, 'error');
      assert.equal(config.host, '0.0.0.0', 'keys the environment does not set still come from the file');
      assert.equal(config.issuer, 'http://localhost:5000');
    });

    it('an unknown key is refused, naming the key and the file', () => {
      const path = file('typo.json', JSON.stringify({ prot: 4000 }));
      assertRejected({}, 'prot', path);
      assertRejected({}, path, path);
    });

    it('an environment variable name as a key is refused (the file uses the camelCase keys)', () => {
      assertRejected({}, 'GATEHOUSE_PORT', file('envname.json', JSON.stringify({ GATEHOUSE_PORT: 4000 })));
    });

    it('an invalid value in the file is refused, naming its key', () => {
      assertRejected({}, 'GATEHOUSE_PORT', file('badport.json', JSON.stringify({ port: 'eighty' })));
      assertRejected({}, 'GATEHOUSE_MASTER_KEY', file('badkey.json', JSON.stringify({ masterKey: 'short' })));
    });

    it('a file that is not a JSON object, or does not exist, is refused naming --config', () => {
      assertRejected({}, '--config', file('broken.json', '{ "port": 4000, '));
      assertRejected({}, '--config', file('array.json', '[4000]'));
      assertRejected({}, '--config', file('null.json', 'null'));
      assertRejected({}, '--config', join(dir, 'missing.json'));
    });
  });

  describe('one configuration object', () => {
    it('no module of src/ but config.ts and the CLI entry reads process.env', () => {
      const root = new URL('../../../src/', import.meta.url).pathname;
      const files: string[] = [];
      const walk = (path: string) => {
        for (const name of readdirSync(path)) {
          const full = join(path, name);
          if (statSync(full).isDirectory()) walk(full);
          else if (name.endsWith('.ts')) files.push(full);
        }
      };
      walk(root);
      const readers = files.filter((f) => /process\.env\b/.test(readFileSync(f, 'utf8'))).map((f) => f.slice(root.length));
      assert.deepEqual(readers.sort(), ['main/cli.ts', 'platform/config.ts']);
    });
  });
});
