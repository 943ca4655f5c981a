// Sends a command and follows it: the server's answer (200 acknowledged, 202
// queued, 409 refused, 504 expired), then its state from command:updated events
// (and a poll, in case the socket is down) until a scrape confirms it or it fails.
import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, enc, get, request } from '../api';
import { useAuth } from '../auth';
import type { Command, CommandResponse } from '../types';

export type Phase = 'idle' | 'sending' | 'queued' | 'acknowledged' | 'confirmed' | 'failed' | 'expired' | 'error';

export interface CommandOutcome {
  phase: Phase;
  httpStatus?: number;
  message?: string;
  command?: Command;
}

const terminal = new Set(['confirmed', 'failed', 'expired']);

export function phaseOf(c: Command): Phase {
  switch (c.state) {
    case 'confirmed': return 'confirmed';
    case 'failed': return 'failed';
    case 'expired': return 'expired';
    case 'acknowledged': return 'acknowledged';
    default: return 'queued';
  }
}

export function useCommand(collectorId: string) {
  const { live } = useAuth();
  const [outcome, setOutcome] = useState<CommandOutcome>({ phase: 'idle' });
  const cmdId = useRef<string>('');

  const update = useCallback((c: Command) => {
    if (c.id !== cmdId.current) return;
    setOutcome((o) => (terminal.has(o.phase) ? o : { ...o, phase: phaseOf(c), command: c, message: c.state === 'failed' || c.state === 'expired' ? c.error || o.message : o.message }));
  }, []);

  useEffect(() => {
    if (!live) return;
    return live.onBatch((events) => {
      for (const ev of events) if (ev.type === 'command:updated' && ev.data) update(ev.data as Command);
    });
  }, [live, update]);

  // The poll, while not final.
  useEffect(() => {
    if (!outcome.command || terminal.has(outcome.phase)) return;
    const id = outcome.command.id;
    const t = setInterval(() => {
      get<Command>(`/commands/${enc(id)}`).then(update).catch(() => {});
    }, 2000);
    return () => clearInterval(t);
  }, [outcome.command, outcome.phase, update]);

  const send = useCallback(async (action: string, body: Record<string, unknown>) => {
    setOutcome({ phase: 'sending' });
    try {
      const { status, body: ans } = await request<CommandResponse>('POST', `/collectors/${enc(collectorId)}/${action}?wait=ack`, body);
      cmdId.current = ans.command?.id ?? '';
      const c = ans.command;
      setOutcome({ phase: status === 202 ? 'queued' : c ? phaseOf(c) : 'acknowledged', httpStatus: status, message: ans.message, command: c });
    } catch (e) {
      if (e instanceof ApiError) {
        const c = e.details['command'] as Command | undefined;
        if (c) cmdId.current = c.id;
        const phase: Phase = e.status === 409 && e.code === 'command_failed' ? 'failed' : e.status === 504 ? 'expired' : 'error';
        setOutcome({ phase, httpStatus: e.status, message: e.full, command: c });
      } else {
        setOutcome({ phase: 'error', message: String(e) });
      }
    }
  }, [collectorId]);

  const reset = useCallback(() => { cmdId.current = ''; setOutcome({ phase: 'idle' }); }, []);
  return { outcome, send, reset };
}
