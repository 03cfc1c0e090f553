import { InfoCard } from '@backstage/core-components';

export const EnvironmentsContent = () => (
  <InfoCard title="Environments">Kube Delivery environments.</InfoCard>
);
