// Drives the official openai Node SDK (OpenAIRealtimeWS) against the gateway through one voice-agent
// turn. Prints one JSON line for the Python test to check. (SDK 6.x builds wss:// URLs only, and has no
// intent=transcription option, hence TLS on the gateway and an agent session.)
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';

const client = new OpenAI({ apiKey: process.env.GATEWAY_KEY, baseURL: process.env.GATEWAY_BASE });

function session(options, onOpen, done) {
  return new Promise((resolve, reject) => {
    const rt = new OpenAIRealtimeWS(options, client);
    const types = [];
    const timer = setTimeout(() => reject(new Error(`timeout; saw ${types.join(',')}`)), 20000);
    rt.on('error', (e) => { clearTimeout(timer); reject(e); });
    rt.on('event', (e) => {
      types.push(e.type);
      if (done(e)) { clearTimeout(timer); rt.close(); resolve({ types, last: e }); }
    });
    rt.socket.on('open', () => onOpen(rt));
  });
}

const agent = await session({ model: 'gpt-realtime-2' }, (rt) => {
  rt.send({ type: 'session.update', session: { type: 'realtime', output_modalities: ['text'], audio: { input: { turn_detection: null } } } });
  rt.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello' }] } });
  rt.send({ type: 'response.create' });
}, (e) => e.type === 'response.done');
console.log(JSON.stringify({ kind: 'agent', status: agent.last.response.status, types: [...new Set(agent.types)] }));
