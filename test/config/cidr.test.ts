import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { addressMatcher, parseCidr } from '../../src/config/cidr.js';
import { parseConfig } from '../../src/config/load.js';

describe('trusted proxy ranges', () => {
  test('addresses and CIDR ranges, IPv4 and IPv6, IPv4-mapped peers', () => {
    const m = addressMatcher(['127.10.0.0/16', '127.168.1.7', '::1/128']);
    assert.equal(m('127.10.3.4'), true);
    assert.equal(m('::ffff:127.10.1.1'), true);
    assert.equal(m('127.11.0.1'), false);
    assert.equal(m('127.168.1.7'), true);
    assert.equal(m('127.168.1.8'), false);
    assert.equal(m('::1'), true);
    assert.equal(m('::2'), false);
    assert.equal(m(undefined), false);
    assert.equal(m('not-an-ip'), false);
  });

  test('invalid entries are config errors', () => {
    assert.equal(parseCidr('127.10.0.0/33'), null);
    assert.equal(parseCidr('127.10.0.0/x'), null);
    assert.equal(parseCidr('example.com'), null);
    assert.throws(() => parseConfig('server: { trustedProxies: [127.10.0.0/40] }\nupstreams: {}\n'), /CIDR/);
  });
});
