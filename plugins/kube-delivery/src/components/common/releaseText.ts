import type { ReleaseDetail } from '@internal/plugin-kube-delivery-common';

/**
 * A release as the text two releases are compared on: the image and delivery
 * settings, then the manifest (normalised by the backend, Secret values
 * redacted).
 */
export function releaseText(release: ReleaseDetail): string {
  const { settings } = release;
  const lines = [
    `# release ${release.version}`,
    `image: ${release.imageRef}`,
    `strategy: ${settings.strategy}`,
    `replicas: ${settings.replicas}`,
    `antiAffinity: ${settings.antiAffinity}`,
    ...(settings.routing ? [`routing: ${settings.routing}`] : []),
    ...(settings.ingress ? [`ingress: ${settings.ingress}`] : []),
    '---',
  ];
  return `${lines.join('\n')}\n${
    release.manifest ??
    '# no manifest of its own: a minimal Deployment and Service\n'
  }`;
}
