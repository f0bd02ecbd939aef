// sitin local room: WebSocket signaling (see sitin/rooms/signaling.py) + peer-to-peer audio mesh.
"use strict";

(() => {
  const SPEAKING_LEVEL = 0.02; // 0..1 audio level above which someone counts as speaking
  const SPEAKING_HOLD_MS = 400;
  const GATHER_TIMEOUT_MS = 3000;

  const $ = (id) => document.getElementById(id);
  const roomName = decodeURIComponent(location.pathname.split("/")[2] || "");
  const link = new URLSearchParams(location.search);
  const invite = link.get("invite"); // a signed invite link: /rooms/<name>?invite=…
  const state = {
    ws: null,
    me: null,
    joined: false,
    localStream: null,
    localLevel: null, // () => 0..1, from an analyser on the microphone
    people: new Map(), // uuid -> {info, li, pc, receiver, audio, lastLoud}
  };

  function setStatus(text) {
    $("status").textContent = text;
  }

  function send(message) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
  }

  // ---- joining and leaving -------------------------------------------------------------

  async function join(displayName) {
    $("join-button").disabled = true;
    setStatus("Asking for the microphone…");
    try {
      state.localStream = await navigator.mediaDevices.getUserMedia({ audio: true });
      state.localLevel = levelMeter(state.localStream);
    } catch (err) {
      state.localStream = null;
      setStatus("No microphone: you can listen and chat");
    }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/rooms/${encodeURIComponent(roomName)}/ws`);
    state.ws = ws;
    ws.onopen = () => {
      const join = { type: "join", name: displayName };
      const passcode = $("passcode").value;
      if (invite) join.invite = invite;
      if (passcode) join.passcode = passcode;
      send(join);
    };
    ws.onmessage = (event) => handle(JSON.parse(event.data));
    ws.onclose = (event) => {
      if (state.joined) leave(false, `Disconnected from the room${event.reason ? ": " + event.reason : ""}`);
      else if (state.localStream) state.localStream.getTracks().forEach((track) => track.stop());
      $("join-button").disabled = false;
    };
  }

  function leave(sayBye = true, why = "You left the room") {
    if (!state.joined) return;
    state.joined = false;
    if (sayBye) send({ type: "bye" });
    for (const person of state.people.values()) closePeer(person);
    state.people.clear();
    if (state.ws) state.ws.close();
    if (state.localStream) state.localStream.getTracks().forEach((track) => track.stop());
    $("participants").replaceChildren();
    $("remote-audio").replaceChildren();
    showRecording();
    setMuted(false);
    $("meeting").hidden = true;
    $("join-form").hidden = false;
    document.body.dataset.state = "left";
    setStatus(why);
  }

  // ---- signaling -----------------------------------------------------------------------

  function handle(message) {
    switch (message.type) {
      case "welcome":
        state.me = message.you;
        state.joined = true;
        document.body.dataset.state = "joined";
        $("join-form").hidden = true;
        $("meeting").hidden = false;
        setStatus(`Joined as ${message.you.name}`);
        addPerson(message.you);
        for (const participant of message.participants) {
          addPerson(participant);
          call(participant.uuid);
        }
        message.chat.forEach(showChat);
        showRecording();
        break;
      case "participant_joined":
        addPerson(message.participant);
        showRecording();
        break;
      case "participant_left":
        removePerson(message.uuid);
        showRecording();
        break;
      case "recording": {
        const person = state.people.get(message.uuid);
        if (person) person.info.recording = message.active === true;
        showRecording();
        break;
      }
      case "offer":
        answer(message);
        break;
      case "answer":
        state.people.get(message.from)?.pc?.setRemoteDescription({ type: "answer", sdp: message.sdp });
        break;
      case "candidate":
        state.people.get(message.from)?.pc?.addIceCandidate(message.candidate).catch(() => {});
        break;
      case "chat":
        showChat(message.message);
        break;
      case "error":
        setStatus(`Room error: ${message.detail}`);
        if (["passcode_required", "wrong_passcode", "invite_required"].includes(message.reason)) {
          $("passcode-field").hidden = message.reason === "invite_required";
        }
        break;
    }
  }

  // ---- media ---------------------------------------------------------------------------

  function newPeer(person) {
    const pc = new RTCPeerConnection({ iceServers: [] });
    if (state.localStream) {
      for (const track of state.localStream.getTracks()) pc.addTrack(track, state.localStream);
    } else {
      pc.addTransceiver("audio", { direction: "recvonly" });
    }
    pc.ontrack = (event) => {
      person.receiver = event.receiver;
      person.audio.srcObject = event.streams[0] || new MediaStream([event.track]);
      person.audio.play().catch(() => {}); // may wait for a click under autoplay rules
    };
    pc.onconnectionstatechange = () => {
      person.li.classList.toggle("lost", ["failed", "closed"].includes(pc.connectionState));
    };
    closePeer(person);
    person.pc = pc;
    return pc;
  }

  function closePeer(person) {
    if (person.pc) person.pc.close();
    person.pc = null;
    person.receiver = null;
  }

  // Candidates travel inside the SDP: wait for gathering so one message carries everything.
  function gathered(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, GATHER_TIMEOUT_MS);
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  async function call(uuid) {
    const person = state.people.get(uuid);
    const pc = newPeer(person);
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    send({ type: "offer", to: uuid, sdp: pc.localDescription.sdp });
  }

  async function answer(message) {
    const person = state.people.get(message.from);
    if (!person) return;
    const pc = newPeer(person);
    await pc.setRemoteDescription({ type: "offer", sdp: message.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    send({ type: "answer", to: message.from, sdp: pc.localDescription.sdp });
  }

  function levelMeter(stream) {
    try {
      const context = new AudioContext();
      const analyser = context.createAnalyser();
      analyser.fftSize = 1024;
      context.createMediaStreamSource(stream).connect(analyser);
      document.addEventListener("click", () => context.resume(), { once: true });
      const samples = new Float32Array(analyser.fftSize);
      return () => {
        analyser.getFloatTimeDomainData(samples);
        let sum = 0;
        for (const s of samples) sum += s * s;
        return Math.sqrt(sum / samples.length);
      };
    } catch (err) {
      return null;
    }
  }

  function currentLevel(person) {
    if (person.info.uuid === state.me?.uuid) return state.localLevel ? state.localLevel() : 0;
    const sources = person.receiver ? person.receiver.getSynchronizationSources() : [];
    return sources.length ? sources[0].audioLevel || 0 : 0;
  }

  function updateSpeaking() {
    const now = performance.now();
    for (const person of state.people.values()) {
      if (currentLevel(person) > SPEAKING_LEVEL) person.lastLoud = now;
      person.li.classList.toggle("speaking", now - person.lastLoud < SPEAKING_HOLD_MS);
    }
  }

  // ---- recording notice and mute -------------------------------------------------------

  // Shown while any bot in the room says it records (the server lets only bots say so).
  function showRecording() {
    const recorders = [...state.people.values()]
      .filter((person) => person.info.role === "bot" && person.info.recording)
      .map((person) => person.info.name);
    $("recording-notice").hidden = recorders.length === 0;
    $("recording-text").textContent = recorders.length
      ? `This meeting is being recorded by ${recorders.join(", ")}`
      : "";
    document.body.dataset.recording = recorders.length ? "yes" : "no";
  }

  // Muted: the microphone track sends silence; the peers stay connected.
  function setMuted(muted) {
    if (state.localStream) state.localStream.getAudioTracks().forEach((t) => (t.enabled = !muted));
    $("mute-button").setAttribute("aria-pressed", String(muted));
    $("mute-button").textContent = muted ? "Unmute" : "Mute";
    document.body.dataset.muted = muted ? "yes" : "no";
  }

  // ---- people and chat -----------------------------------------------------------------

  function addPerson(info) {
    if (state.people.has(info.uuid)) return;
    const li = document.createElement("li");
    li.dataset.uuid = info.uuid;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = info.name;
    li.append(name);
    if (info.uuid === state.me?.uuid) li.append(tag("you"));
    if (info.is_host) li.append(tag("host"));
    if (info.role === "bot") li.append(tag("bot"));
    $("participants").append(li);
    const audio = document.createElement("audio");
    audio.autoplay = true;
    $("remote-audio").append(audio);
    state.people.set(info.uuid, { info, li, audio, pc: null, receiver: null, lastLoud: -1e9 });
  }

  function removePerson(uuid) {
    const person = state.people.get(uuid);
    if (!person) return;
    closePeer(person);
    person.li.remove();
    person.audio.remove();
    state.people.delete(uuid);
  }

  function tag(text) {
    const span = document.createElement("span");
    span.className = "tag";
    span.textContent = text;
    return span;
  }

  function showChat(message) {
    const li = document.createElement("li");
    li.dataset.id = message.id;
    li.dataset.from = message.from;
    const time = document.createElement("time");
    time.dateTime = new Date(message.timestamp_ms).toISOString();
    time.textContent = new Date(message.timestamp_ms).toLocaleTimeString([], {
      hour: "2-digit",
      minute: "2-digit",
    });
    const sender = document.createElement("span");
    sender.className = "sender";
    sender.textContent = message.from_name;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = message.text;
    li.append(time, sender);
    if (message.to) li.append(tag("private"), " ");
    li.append(text);
    $("chat-log").append(li);
    li.scrollIntoView({ block: "nearest" });
  }

  // ---- page wiring ---------------------------------------------------------------------

  $("room-name").textContent = roomName;
  document.body.dataset.state = "idle";
  $("join-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("display-name").value.trim();
    if (name) join(name);
  });
  $("chat-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("chat-text").value.trim();
    if (!text) return;
    send({ type: "chat", text });
    $("chat-text").value = "";
  });
  $("leave-button").addEventListener("click", () => leave());
  $("mute-button").addEventListener("click", () => {
    setMuted($("mute-button").getAttribute("aria-pressed") !== "true");
  });
  window.addEventListener("pagehide", () => leave());
  setInterval(updateSpeaking, 100);

  const nameFromLink = link.get("name");
  if (nameFromLink) {
    $("display-name").value = nameFromLink;
    join(nameFromLink.trim());
  }
})();
