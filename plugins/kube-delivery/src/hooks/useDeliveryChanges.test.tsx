import { EntityProvider } from '@backstage/plugin-catalog-react';
import { signalApiRef, type SignalApi } from '@backstage/plugin-signals-react';
import { renderInTestApp, TestApiProvider } from '@backstage/test-utils';
import type { JsonObject } from '@backstage/types';
import { act, screen, waitFor } from '@testing-library/react';
import { kubeDeliveryApiRef } from '../api';
import { entity, mockApi } from '../__testUtils__/fixtures';
import { DeliveryOverviewCard } from '../components/OverviewCard';

jest.setTimeout(30_000);

/** A signals API whose messages the test sends. */
function fakeSignals() {
  const subscribers = new Map<string, (message: JsonObject) => void>();
  const api: SignalApi = {
    subscribe(channel, onMessage) {
      subscribers.set(channel, onMessage as (message: JsonObject) => void);
      return { unsubscribe: () => subscribers.delete(channel) };
    },
  };
  return { api, subscribers };
}

describe('live updates through signals', () => {
  it("reads again at once when the backend signals a change of the entity's delivery", async () => {
    const api = mockApi({ getStatus: jest.fn().mockResolvedValue([]) });
    const signals = fakeSignals();
    await renderInTestApp(
      <TestApiProvider
        apis={[
          [kubeDeliveryApiRef, api],
          [signalApiRef, signals.api],
        ]}
      >
        <EntityProvider entity={entity}>
          <DeliveryOverviewCard />
        </EntityProvider>
      </TestApiProvider>,
    );
    await screen.findByText('Deliveries');
    await waitFor(() => expect(api.getStatus).toHaveBeenCalledTimes(1));
    const send = signals.subscribers.get(
      'kube-delivery:entity:component:default/cart',
    );
    expect(send).toBeDefined();
    act(() => send!({ type: 'changed' }));
    // Long before the next poll (5 s).
    await waitFor(() => expect(api.getStatus).toHaveBeenCalledTimes(2), {
      timeout: 1000,
    });
  });
});
