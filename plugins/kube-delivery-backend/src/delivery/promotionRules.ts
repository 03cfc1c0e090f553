import type { DeploymentKind } from '@internal/plugin-kube-delivery-common';
import type { DeliveryConfig, EnvironmentConfig } from '../config/environments';
import type { ReleaseRecord } from '../database';

/** What the rules need to know about where a release has succeeded. */
export type SucceededIn = (environment: string) => Promise<boolean>;

/**
 * Why a release may not enter an environment, or undefined if it may.
 * Rules, in order: the release's channel must allow the environment; a
 * feature branch only goes where feature branches are enabled; and a release
 * enters an environment only after it succeeded in the one before it in the
 * lifecycle. A rollback to (or restart of) a release that already ran in the
 * environment is not a promotion and skips the lifecycle rule.
 */
export async function refusalOf(input: {
  release: ReleaseRecord;
  environment: EnvironmentConfig;
  kind: DeploymentKind;
  config: DeliveryConfig;
  succeededIn: SucceededIn;
}): Promise<string | undefined> {
  const { release, environment, config } = input;
  const channel = config.channels.find(c => c.name === release.channel);
  if (channel?.environments && !channel.environments.includes(environment.name)) {
    return `Channel rule: releases of channel "${channel.name}" (${release.version}) may go only to ${channel.environments.join(', ')}, not ${environment.name}`;
  }
  if (release.branch !== undefined && !environment.featureBranches) {
    return `Feature-branch rule: ${environment.name} does not take feature-branch releases such as ${release.version}`;
  }
  if (
    (input.kind === 'rollback' || input.kind === 'restart') &&
    (await input.succeededIn(environment.name))
  ) {
    return undefined;
  }
  const position = config.lifecycle.indexOf(environment.name);
  if (position > 0) {
    const before = config.lifecycle[position - 1];
    if (!(await input.succeededIn(before))) {
      return `Lifecycle rule: ${release.version} must succeed in ${before} before it may enter ${environment.name}`;
    }
  }
  return undefined;
}
