import { parseEntityRef } from '@backstage/catalog-model';
import { ResponseError } from '@backstage/errors';
import type { TypedResponse } from './schema/openapi/generated/apis';

/**
 * The body of an answer of the generated {@link KubeDeliveryApiClient}, or
 * the backend's error as a `ResponseError` (its message says what to do).
 * @public
 */
export async function bodyOf<T>(
  answer: Promise<TypedResponse<T>>,
): Promise<T> {
  const response = await answer;
  if (!response.ok) {
    throw await ResponseError.fromResponse(response as unknown as Response);
  }
  return response.json();
}

/** The path parameters of an entity route, from an entity ref. @public */
export function entityPathOf(entityRef: string): {
  kind: string;
  namespace: string;
  name: string;
} {
  const { kind, namespace, name } = parseEntityRef(entityRef);
  return { kind, namespace, name };
}
