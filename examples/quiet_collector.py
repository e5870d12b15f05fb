"""MyStatefullCollector, refined: a run that finds nothing new publishes nothing.

n6's example collector publishes one message per run even when the feed has
nothing new (its body is then an empty list `[]`). This subclass skips the
publishing in that case; the state is saved as usual.

    stateful-collectors run quiet_collector:QuietCollector \
        --config my_statefull_collector.conf
"""

from my_statefull_collector import MyStatefullCollector


class QuietCollector(MyStatefullCollector):
    def start_publishing(self):
        output_rk, output_data_body, output_prop_kwargs = self.get_output_components()
        if output_data_body.items:
            self.publish_output(output_rk, output_data_body, output_prop_kwargs)
        self.inner_stop()
