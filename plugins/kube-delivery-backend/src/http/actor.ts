import type { BackstageCredentials } from '@backstage/backend-plugin-api';

/** The name a user or service token acts under, for the history and audit. */
export function actorOf(credentials: BackstageCredentials): string {
  const principal = credentials.principal as {
    type: string;
    userEntityRef?: string;
    subject?: string;
  };
  return principal.type === 'user'
    ? principal.userEntityRef!
    : `service:${principal.subject}`;
}
