import { describe, expect, it } from 'vitest';
import { pipelineJsonSchema } from '../../src/pipeline/schema.ts';

type Schema = {
  $schema?: string;
  description?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  anyOf?: Schema[];
  required?: string[];
  default?: unknown;
  pattern?: string;
  enum?: unknown[];
};

/** Every property of every object in `schema`, with its path. */
function properties(schema: Schema, path = ''): [string, Schema][] {
  const own = Object.entries(schema.properties ?? {}).map(([key, value]): [string, Schema] => [`${path}.${key}`, value]);
  const nested = [
    ...own,
    ...(typeof schema.additionalProperties === 'object' ? [[`${path}.*`, schema.additionalProperties] as [string, Schema]] : []),
    ...(schema.items ? [[`${path}[]`, schema.items] as [string, Schema]] : []),
    ...(schema.anyOf ?? []).map((option, i): [string, Schema] => [`${path}|${i}`, option]),
  ];
  return [...own, ...nested.flatMap(([p, s]) => properties(s, p))];
}

describe('pipelineJsonSchema', () => {
  const schema = pipelineJsonSchema() as Schema;

  it('is a draft 2020-12 schema of a strict mapping', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.required).toEqual(['name', 'steps']);
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties!)).toEqual(['name', 'matrix', 'budget_usd', 'activities', 'steps']);
  });

  it('describes every property', () => {
    const all = properties(schema);
    expect(all.length).toBeGreaterThan(20);
    expect(all.filter(([, property]) => !property.description).map(([path]) => path)).toEqual([]);
  });

  it('carries the defaults and patterns editors can check', () => {
    const step = (schema.properties!.steps!.additionalProperties as Schema).properties!;
    const activity = (schema.properties!.activities!.additionalProperties as Schema).properties!;
    expect(activity.provider).toMatchObject({ default: 'local', enum: ['local', 'ssh', 'ec2'] });
    expect(activity.max_workers!.default).toBe(2);
    expect(activity.idle_timeout!.default).toBe('2m');
    expect(step.retry!.properties).toMatchObject({
      attempts: { default: 3 },
      delay: { default: '1m' },
      backoff: { default: 5 },
      max_delay: { default: '30m' },
    });
    expect(new RegExp(step.timeout!.pattern!).test('1h30m')).toBe(true);
    expect(new RegExp(schema.properties!.name!.pattern!).test('my-pipeline')).toBe(true);
  });
});
