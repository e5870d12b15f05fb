"""Against a real RabbitMQ broker (the session's `broker`): publishing, failures, crashes."""
