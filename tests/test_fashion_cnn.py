import cnnzoo


def test_fashion_cnn_matches_the_keras_model():
    model = cnnzoo.create_model("fashion_cnn", device="meta")
    # Keras summary: 3,200 + 73,856 + 147,584 + 295,168 + 590,080 + 295,040 + 8,256 + 650
    assert cnnzoo.count_params(model) == 1_413_834
    convs = [m for m in model.features if hasattr(m, "in_chs")]
    assert [(c[0].out_channels, c[0].kernel_size[0]) for c in convs] == [
        (64, 7), (128, 3), (128, 3), (256, 3), (256, 3)]
