"""gRPC clients for the lepton-tf servables, on the stock TF Serving stubs."""

from lepton_tf.client.assistant import AssistantClient
from lepton_tf.client.base import PredictClient
from lepton_tf.client.chat import ChatClient
from lepton_tf.client.search import SearchClient, SearchHit

__all__ = ["AssistantClient", "ChatClient", "PredictClient", "SearchClient", "SearchHit"]
