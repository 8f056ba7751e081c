import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DURATION_PATTERN,
  PERCENT_PATTERN,
  SIZE_PATTERN,
  formatDuration,
  parseDuration,
  parsePercent,
  parseSize,
} from '../../src/config/units.js';

describe('parseDuration', () => {
  const cases: Array<[string, number]> = [
    ['0ms', 0],
    ['500ms', 500],
    ['2s', 2000],
    ['1.5s', 1500],
    ['1m', 60_000],
    ['1h', 3_600_000],
    ['0.25ms', 0],
    ['2.5m', 150_000],
    [' 3s ', 3000],
    ['7d', 7 * 86_400_000],
  ];
  for (const [text, ms] of cases) {
    test(`${JSON.stringify(text)} is ${ms} ms`, () => assert.equal(parseDuration(text), ms));
  }

  for (const bad of ['', '10', 's', '1 s', '-1s', '1sec', '1S', '1D', '1w', '1.s', '.5s', '1e3ms', '1s2', 'ms']) {
    test(`${JSON.stringify(bad)} is not a duration`, () => assert.equal(parseDuration(bad), undefined));
  }
});

describe('parseSize', () => {
  const cases: Array<[string, number]> = [
    ['0b', 0],
    ['512b', 512],
    ['1kb', 1024],
    ['16kb', 16 * 1024],
    ['1mb', 1024 ** 2],
    ['10mb', 10 * 1024 ** 2],
    ['1gb', 1024 ** 3],
    ['1.5kb', 1536],
    ['10MB', 10 * 1024 ** 2],
    ['2Kb', 2048],
  ];
  for (const [text, bytes] of cases) {
    test(`${JSON.stringify(text)} is ${bytes} bytes`, () => assert.equal(parseSize(text), bytes));
  }

  for (const bad of ['', '10', 'mb', '1 mb', '-1kb', '1k', '1m', '1tb', '1.kb']) {
    test(`${JSON.stringify(bad)} is not a size`, () => assert.equal(parseSize(bad), undefined));
  }
});

describe('parsePercent', () => {
  const cases: Array<[string, number]> = [
    ['0%', 0],
    ['20%', 0.2],
    ['50%', 0.5],
    ['100%', 1],
    ['12.5%', 0.125],
  ];
  for (const [text, fraction] of cases) {
    test(`${JSON.stringify(text)} is ${fraction}`, () => assert.equal(parsePercent(text), fraction));
  }

  for (const bad of ['', '20', '%', '-5%', '100.1%', '150%', '20 %', '0.2']) {
    test(`${JSON.stringify(bad)} is not a percentage`, () => assert.equal(parsePercent(bad), undefined));
  }
});

describe('formatDuration', () => {
  const cases: Array<[number, string]> = [
    [0, '0ms'],
    [250, '250ms'],
    [999, '999ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [1050, '1050ms'],
    [10_000, '10s'],
    [60_000, '1m'],
    [90_000, '90s'],
    [120_000, '2m'],
  ];
  for (const [ms, text] of cases) {
    test(`${ms} ms is shown as ${text}`, () => assert.equal(formatDuration(ms), text));
  }

  test('what it prints parses back to the same number', () => {
    for (const ms of [0, 1, 250, 1000, 1500, 1050, 59_900, 60_000, 90_000, 3_600_000]) {
      assert.equal(parseDuration(formatDuration(ms)), ms, `round trip of ${ms}`);
    }
  });
});

describe('the patterns published in the JSON Schema accept exactly what the parsers accept', () => {
  // Editors validate with these patterns (no regex flags in JSON Schema): a value the loader
  // takes must not be flagged red, and the other way round.
  const samples = ['0ms', '500ms', '2s', '1.5s', '1m', '1h', '10', '1 s', '1d', '1S', '0b', '512b', '1kb', '10mb', '10MB', '2Kb', '1GB', '1k', '1tb', '0%', '20%', '12.5%', '20', '-5%'];
  const pairs: Array<[string, string, (s: string) => number | undefined]> = [
    ['duration', DURATION_PATTERN, parseDuration],
    ['size', SIZE_PATTERN, parseSize],
    ['percent', PERCENT_PATTERN, parsePercent],
  ];
  for (const [name, pattern, parse] of pairs) {
    test(name, () => {
      const re = new RegExp(pattern);
      for (const s of samples) {
        // Percentages over 100% match the pattern but are refused with their own message.
        if (name === 'percent' && re.test(s) && Number.parseFloat(s) > 100) continue;
        assert.equal(re.test(s), parse(s) !== undefined, `${name} pattern vs parser on ${JSON.stringify(s)}`);
      }
    });
  }
});
