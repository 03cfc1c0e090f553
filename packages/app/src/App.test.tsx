import { render } from '@testing-library/react';
import App from './App';

jest.setTimeout(30_000);

describe('App', () => {
  // Every feature (the Kube Delivery plugin among them) is created when the
  // root renders: a plugin that fails to load leaves no sign-in page.
  it('renders the sign-in page of the app with all its features', async () => {
    process.env = {
      NODE_ENV: 'test',
      APP_CONFIG: [
        {
          data: {
            app: { title: 'Test' },
            backend: { baseUrl: 'http://localhost:7007' },
          },
          context: 'test',
        },
      ] as any,
    };

    const rendered = render(App.createRoot());

    expect(
      await rendered.findByText(
        /Enter as a Guest User/,
        {},
        { timeout: 20_000 },
      ),
    ).toBeInTheDocument();
    expect(rendered.getByText('Test')).toBeInTheDocument();
  });
});
