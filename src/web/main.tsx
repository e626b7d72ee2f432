import { createRoot } from 'react-dom/client';
import { App } from './app.tsx';
import { bootToken } from './net/auth.ts';
import './styles.css';

// Before anything renders or fetches: the token must be out of the address bar first.
bootToken();
createRoot(document.getElementById('root')!).render(<App />);
