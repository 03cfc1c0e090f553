import { Content, Header, Page } from '@backstage/core-components';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { useEntity } from '@backstage/plugin-catalog-react';
import { DeliveriesTable } from './DeliveriesContent';

/** The Deliveries page of the legacy frontend system, with its header. */
export const DeliveriesPage = () => (
  <Page themeId="tool">
    <Header
      title="Deliveries"
      subtitle="Every service in every environment: what runs where, and what the next promotion changes"
    />
    <Content>
      <DeliveriesTable />
    </Content>
  </Page>
);

/** The page's content, for the new frontend system (the app draws the header). */
export const DeliveriesPageContent = () => (
  <Content>
    <DeliveriesTable />
  </Content>
);

/** The Deliveries tab of a System (its services) or a Group (the services it owns). */
export const EntityDeliveriesContent = () => {
  const { entity } = useEntity();
  const ref = stringifyEntityRef(entity);
  const filter =
    entity.kind.toLocaleLowerCase('en-US') === 'system'
      ? { system: ref }
      : { owner: ref };
  return <DeliveriesTable filter={filter} />;
};
