import '@mantine/core/styles.css';
import 'uplot/dist/uPlot.min.css';
import './app.css';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router';
import { MantineProvider, createTheme } from '@mantine/core';
import { setNonce } from 'get-nonce';
import { App } from './App';

// The server puts a fresh nonce in this meta tag and in its Content-Security-Policy;
// Mantine puts it on the <style> elements it injects.
const nonce = document.querySelector<HTMLMetaElement>('meta[name="csp-nonce"]')?.content ?? '';
// Mantine's modals lock scrolling with react-remove-scroll, whose style element
// takes its nonce from get-nonce.
setNonce(nonce);

const theme = createTheme({
  primaryColor: 'blue',
  // Shade 8 in light: white on it, and it on white, pass WCAG AA (shade 6 does not).
  primaryShade: { light: 8, dark: 8 },
  fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif',
  fontFamilyMonospace: 'ui-monospace, "DejaVu Sans Mono", monospace',
  defaultRadius: 'sm',
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <MantineProvider theme={theme} defaultColorScheme="auto" getStyleNonce={() => nonce}>
      <BrowserRouter>
        <App />
      </BrowserRouter>
    </MantineProvider>
  </StrictMode>,
);
