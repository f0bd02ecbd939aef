"""Local meeting rooms: a small WebRTC mesh with a signaling server and a browser page."""
