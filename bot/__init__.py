"""allhands: public customer mentions into your team chat, where anyone can answer them."""
