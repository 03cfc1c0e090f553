import { InputError } from '@backstage/errors';
import {
  placeholderValues,
  substituteInTree,
  substitutePlaceholders,
} from './placeholders';

const values = placeholderValues({
  environment: 'dev',
  namespace: 'shop-dev',
  version: '0.1.4-myfeature',
  featureBranch: 'myfeature',
  variables: { LogLevel: 'debug', 'db.host': 'redis-cart:6379' },
});

describe('substitutePlaceholders', () => {
  it.each([
    ['#{Environment}', 'dev'],
    ['#{Namespace}/#{Version}', 'shop-dev/0.1.4-myfeature'],
    ['branch=#{FeatureBranch}', 'branch=myfeature'],
    ['#{LogLevel} #{db.host}', 'debug redis-cart:6379'],
    ['no placeholders', 'no placeholders'],
    ['##{Environment}', '#{Environment}'],
    ['#{Environment', '#{Environment'],
    ['${Environment} {{Environment}}', '${Environment} {{Environment}}'],
  ])('%s -> %s', (text, expected) => {
    expect(substitutePlaceholders(text, values)).toBe(expected);
  });

  it('does not evaluate substituted text again', () => {
    const tricky = { A: '#{B}', B: 'secret' };
    expect(substitutePlaceholders('#{A}', tricky)).toBe('#{B}');
  });

  it.each([
    '#{Unknown}',
    '#{environment}',
    '#{}',
    '#{ Environment }',
    '#{constructor}',
    '#{__proto__}',
  ])('rejects %s, listing the allowed names', text => {
    expect(() => substitutePlaceholders(text, values)).toThrow(InputError);
    expect(() => substitutePlaceholders(text, values)).toThrow(
      'the allowed placeholders are #{Environment}, #{FeatureBranch}, #{LogLevel}, #{Namespace}, #{Version}, #{db.host}',
    );
  });
});

describe('substituteInTree', () => {
  it('substitutes string values only, never keys', () => {
    const tree = {
      '#{Environment}': 'key stays',
      list: ['#{Namespace}', 3, true, null, { deep: ['#{Version}'] }],
    };
    expect(substituteInTree(tree, values)).toEqual({
      '#{Environment}': 'key stays',
      list: ['shop-dev', 3, true, null, { deep: ['0.1.4-myfeature'] }],
    });
  });

  it('does not modify its input', () => {
    const tree = { a: ['#{Environment}'] };
    substituteInTree(tree, values);
    expect(tree).toEqual({ a: ['#{Environment}'] });
  });
});

describe('placeholderValues', () => {
  it('gives built-ins precedence and an empty FeatureBranch on the mainline', () => {
    expect(
      placeholderValues({
        environment: 'prod',
        namespace: 'shop',
        version: '1.0.0',
        variables: { Environment: 'spoofed', Region: 'eu' },
      }),
    ).toEqual({
      Environment: 'prod',
      Namespace: 'shop',
      Version: '1.0.0',
      FeatureBranch: '',
      Region: 'eu',
    });
  });

  it.each(['1abc', '_a', 'a-b', 'a b', '', 'a'.repeat(65)])(
    'rejects the variable name %j',
    name => {
      expect(() =>
        placeholderValues({
          environment: 'e',
          namespace: 'n',
          version: '1.0.0',
          variables: { [name]: 'x' },
        }),
      ).toThrow(InputError);
    },
  );
});
