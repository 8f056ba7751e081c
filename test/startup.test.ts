/** Start failures as one line naming the setting to change: every errno a listen or a file open can give. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StartupError, listenFailure, opening, startupFailure } from '../src/startup.js';

const errno = (code: string) => Object.assign(new Error(`${code} (as node words it)`), { code });

describe('listenFailure', () => {
  const table: Array<[code: string, kind: 'data' | 'admin', setting: string, words: RegExp]> = [
    ['EADDRINUSE', 'data', 'listen.port', /^the data port 127\.0\.0\.1:8080 is in use$/],
    ['EADDRINUSE', 'admin', 'admin.port', /^the admin port 127\.0\.0\.1:8080 is in use$/],
    ['EACCES', 'data', 'listen.port', /needs privileges .*pick a port from 1024 up/],
    ['EPERM', 'admin', 'admin.port', /needs privileges/],
    ['EADDRNOTAVAIL', 'data', 'listen.host', /^the data host 127\.0\.0\.1 is not an address of this machine$/],
    ['ENOTFOUND', 'admin', 'admin.host', /does not resolve \(ENOTFOUND\)/],
    ['EAI_AGAIN', 'data', 'listen.host', /does not resolve \(EAI_AGAIN\)/],
    ['EAI_FAIL', 'data', 'listen.host', /does not resolve/],
    ['EAI_NONAME', 'data', 'listen.host', /does not resolve/],
    ['EINVAL', 'data', 'listen.host', /^cannot listen on 127\.0\.0\.1:8080 for the data listener \(EINVAL\)$/],
  ];
  for (const [code, kind, setting, words] of table) {
    it(`${code} on the ${kind} listener names ${setting}`, () => {
      const e = listenFailure(errno(code), kind, '127.0.0.1', 8080);
      assert.equal(e.setting, setting);
      assert.match(e.message, words);
      const line = startupFailure(e, '/etc/causeway.yaml');
      assert.ok(line.endsWith(`; set ${setting} in /etc/causeway.yaml`), line);
      assert.doesNotMatch(line, /\n/);
    });
  }

  it('brackets an IPv6 host', () => {
    assert.match(listenFailure(errno('EADDRINUSE'), 'data', '::1', 80).message, /\[::1\]:80/);
  });
});

describe('opening', () => {
  const codes = ['ENOENT', 'EACCES', 'EPERM', 'ENOTDIR', 'EEXIST', 'EISDIR', 'EROFS', 'ENOSPC', 'EDQUOT', 'ENAMETOOLONG', 'ELOOP', 'EMFILE', 'ENFILE', 'SQLITE_CANTOPEN', 'SQLITE_NOTADB', 'SQLITE_CORRUPT', 'SQLITE_READONLY', 'SQLITE_PERM', 'SQLITE_FULL', 'SQLITE_BUSY'];
  for (const code of codes) {
    it(`${code} is put in words, with the file and the setting`, () => {
      assert.throws(
        () =>
          opening('storage.path', 'the call log', './data/c.db', () => {
            throw errno(code);
          }),
        (e: unknown) => {
          assert.ok(e instanceof StartupError);
          assert.equal(e.setting, 'storage.path');
          assert.match(e.message, new RegExp(`^cannot open the call log \\./data/c\\.db \\(${code}: [a-z]`));
          assert.doesNotMatch(e.message, /as node words it/, 'a known code gets our words');
          return true;
        },
      );
    });
  }
  it('an unknown code keeps the error message', () => {
    assert.throws(
      () =>
        opening('log.file', 'the log file', '/x', () => {
          throw errno('EWEIRD');
        }),
      /cannot open the log file \/x \(EWEIRD: EWEIRD \(as node words it\)\)/,
    );
  });
  it('passes the value through when nothing fails', () => {
    assert.equal(
      opening('log.file', 'the log file', '/x', () => 42),
      42,
    );
  });
});

describe('startupFailure', () => {
  it('any other error is its message, one line', () => {
    assert.equal(startupFailure(new Error('boom')), 'boom');
  });
});
