// Drives the official openai Node SDK (OpenAIRealtimeWS) against the gateway. Prints one JSON line per
// scenario for the Python test to check. (The SDK builds wss:// URLs only, hence TLS on the gateway.)
//  1. agent: a typed turn answered in text.
//  2. voice: a spoken question (PCM16 24 kHz from QUESTION_PCM) to an agent with a function tool and
//     tool_choice "auto": the model calls the tool, the script returns its output and asks for a
//     response, "plays" the spoken answer in real time and barges in (BARGE_PCM) while it plays,
//     truncating the answer at what was played, as a voice app does.
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';

const client = new OpenAI({ apiKey: process.env.GATEWAY_KEY, baseURL: process.env.GATEWAY_BASE });

function session(options, onOpen, onEvent) {
  return new Promise((resolve, reject) => {
    const rt = new OpenAIRealtimeWS(options, client);
    const types = [];
    const errors = [];
    const timer = setTimeout(() => reject(new Error(`timeout; saw ${types.join(',')}`)), 40000);
    const finish = (result) => { clearTimeout(timer); rt.close(); resolve({ types: [...new Set(types)], errors, ...result }); };
    rt.on('error', (e) => { errors.push(String(e.message || e)); });
    rt.on('event', (e) => {
      types.push(e.type);
      if (e.type === 'error') errors.push(JSON.stringify(e.error));
      onEvent(rt, e, finish);
    });
    rt.socket.on('open', () => onOpen(rt));
  });
}

function sendAudio(rt, pcm) {
  for (let i = 0; i < pcm.length; i += 960) {
    rt.send({ type: 'input_audio_buffer.append', audio: pcm.subarray(i, i + 960).toString('base64') });
  }
}

const agent = await session({ model: 'gpt-realtime-2' }, (rt) => {
  rt.send({ type: 'session.update', session: { type: 'realtime', output_modalities: ['text'], audio: { input: { turn_detection: null } } } });
  rt.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello' }] } });
  rt.send({ type: 'response.create' });
}, (rt, e, finish) => { if (e.type === 'response.done') finish({ status: e.response.status }); });
console.log(JSON.stringify({ kind: 'agent', ...agent }));

const question = readFileSync(process.env.QUESTION_PCM);
const barge = readFileSync(process.env.BARGE_PCM);
const tool = {
  type: 'function', name: 'lookup_order', description: 'Look up an order by ID',
  parameters: { type: 'object', properties: { order_id: { type: 'string', description: 'The order ID' } }, required: ['order_id'] },
};
const state = { calls: [], answer: null, truncatedAt: null, cancelled: null };
const voice = await session({ model: 'gpt-realtime-2' }, (rt) => {
  rt.send({ type: 'session.update', session: { type: 'realtime', instructions: 'You are a customer support agent.', tools: [tool], tool_choice: 'auto' } });
  sendAudio(rt, question);
}, (rt, e, finish) => {
  if (e.type === 'response.function_call_arguments.done') {
    state.calls.push({ name: e.name, arguments: JSON.parse(e.arguments) });
    rt.send({ type: 'conversation.item.create', item: { type: 'function_call_output', call_id: e.call_id, output: JSON.stringify({ status: 'shipped', tracking: 'ABC123' }) } });
    rt.send({ type: 'response.create' });
  } else if (e.type === 'response.output_audio.delta' && state.calls.length && state.answer === null) {
    state.answer = { item: e.item_id, started: Date.now() };  // playback of the answer starts now
    setTimeout(() => sendAudio(rt, barge), 300);
  } else if (e.type === 'input_audio_buffer.speech_started' && state.answer && state.truncatedAt === null) {
    state.truncatedAt = Date.now() - state.answer.started;  // what the listener actually heard
    rt.send({ type: 'response.cancel' });  // as the seed guide says; may race the server's own cancel
    rt.send({ type: 'conversation.item.truncate', item_id: state.answer.item, content_index: 0, audio_end_ms: state.truncatedAt });
  } else if (e.type === 'response.done' && state.answer && e.response.status === 'cancelled') {
    state.cancelled = e.response.status_details?.reason ?? null;
  } else if (e.type === 'conversation.item.truncated') {
    finish({ calls: state.calls, truncated: { item: e.item_id, audio_end_ms: e.audio_end_ms }, answerItem: state.answer.item, cancelled: state.cancelled });
  }
});
console.log(JSON.stringify({ kind: 'voice', ...voice }));
