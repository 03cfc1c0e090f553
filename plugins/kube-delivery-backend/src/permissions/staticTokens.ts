import type { LoggerService } from '@backstage/backend-plugin-api';
import type { Config } from '@backstage/config';

const EXTERNAL_ACCESS_KEY = 'backend.auth.externalAccess';

/**
 * The shortest static token Kube Delivery starts with: 32 characters, what
 * the generator Backstage documents for these tokens writes
 * (`node -p 'require("crypto").randomBytes(24).toString("base64")'`, or
 * `openssl rand -base64 24`): 192 random bits. A static token is a bearer
 * secret compared verbatim, with no expiry and no rate limit on guesses, so
 * it must be random rather than remembered; Backstage itself only asks for
 * 8 characters. 32 also refuses the placeholder the shipped config used to
 * default to (`local-ci-token-change-me`, 24 characters).
 */
export const MIN_STATIC_TOKEN_LENGTH = 32;

/**
 * Refuses to start the plugin when a `backend.auth.externalAccess` static
 * token is configured but missing, empty (an unset variable such as
 * `${KUBE_DELIVERY_CI_TOKEN}`), or shorter than
 * {@link MIN_STATIC_TOKEN_LENGTH}; warns when one has no
 * `accessRestrictions` (it could then call every plugin of the backend).
 * Throws an Error naming the entry and how to make a token.
 */
export function checkStaticTokens(config: Config, logger?: LoggerService) {
  const entries = config.getOptionalConfigArray(EXTERNAL_ACCESS_KEY) ?? [];
  entries.forEach((entry, index) => {
    if (entry.getOptionalString('type') !== 'static') return;
    const at = `${EXTERNAL_ACCESS_KEY}[${index}]`;
    const subject = entry.getOptional('options.subject');
    const which = `${at} (static token${
      typeof subject === 'string' && subject ? ` of subject "${subject}"` : ''
    })`;
    const token = entry.getOptional('options.token');
    const howTo =
      'set it to a random value from your secret store, e.g. export KUBE_DELIVERY_CI_TOKEN=$(openssl rand -base64 24) ' +
      '(the shipped app-config.yaml reads KUBE_DELIVERY_CI_TOKEN), or remove the entry';
    if (token === undefined || token === null || token === '') {
      throw new Error(`${which} has no token: ${howTo}`);
    }
    if (typeof token !== 'string') {
      throw new Error(`${which}: the token must be a string`);
    }
    if (token.length < MIN_STATIC_TOKEN_LENGTH) {
      throw new Error(
        `${which} is ${token.length} characters long; Kube Delivery starts only with static tokens of at least ${MIN_STATIC_TOKEN_LENGTH} random characters: ${howTo}`,
      );
    }
    if (!entry.has('accessRestrictions')) {
      logger?.warn(
        `${which} has no accessRestrictions: it may call every plugin of this backend. Give it accessRestrictions: [{ plugin: kube-delivery }] if Kube Delivery is all it is for.`,
      );
    }
  });
}
