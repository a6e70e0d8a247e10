from rm_training.tiny import build_tiny_tokenizer, qwen2_5_vl_3b_like_config, tiny_qwen2_5_vl_config


def test_tiny_config_has_a_valid_mrope_split():
    """hidden 32 with 2 heads -> head_dim 16 -> mrope_section must sum to 8."""
    config = tiny_qwen2_5_vl_config(build_tiny_tokenizer())
    assert config.text_config.num_hidden_layers == 2
    assert sum(config.text_config.rope_parameters["mrope_section"]) == 32 // 2 // 2


def test_real_size_benchmark_config_matches_qwen2_5_vl_3b_shapes():
    """head_dim 2048 / 16 = 128 -> mrope [16, 24, 24] sums to 64 = 128 / 2."""
    tokenizer = build_tiny_tokenizer()
    config = qwen2_5_vl_3b_like_config(tokenizer)
    assert (config.text_config.hidden_size, config.text_config.num_hidden_layers) == (2048, 36)
    assert sum(config.text_config.rope_parameters["mrope_section"]) == 2048 // 16 // 2
    assert config.vision_config.out_hidden_size == config.text_config.hidden_size
    assert config.video_token_id == tokenizer.convert_tokens_to_ids("<|video_pad|>")


def test_tiny_config_takes_more_key_value_heads():
    """hidden 64 with 4 heads -> head_dim 16 -> mrope_section sums to 8; the default keeps one key/value head."""
    tokenizer = build_tiny_tokenizer()
    config = tiny_qwen2_5_vl_config(tokenizer, hidden_size=64, num_heads=4, num_key_value_heads=4)
    assert (config.text_config.num_attention_heads, config.text_config.num_key_value_heads) == (4, 4)
    assert config.text_config.head_dim == 16
    assert sum(config.text_config.rope_parameters["mrope_section"]) == 16 // 2
    assert tiny_qwen2_5_vl_config(tokenizer).text_config.num_key_value_heads == 1
