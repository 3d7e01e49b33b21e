"""The live wall dashboard, fed over MQTT."""
