"""The three steps of deep learning, with lamina's engine alone.

1. a family of functions: a 2-16-1 network, tanh then sigmoid;
2. how good one is: mean squared error on the four XOR points;
3. pick the best: gradient descent, with backpropagation computing the gradients.
"""

import lamina

lamina.manual_seed(0)
x = lamina.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
y = lamina.tensor([[0.0], [1.0], [1.0], [0.0]])

w1 = (lamina.randn(2, 16) * 0.8).requires_grad_()
b1 = lamina.zeros(16, requires_grad=True)
w2 = (lamina.randn(16, 1) * 0.8).requires_grad_()
b2 = lamina.zeros(1, requires_grad=True)
params = [w1, b1, w2, b2]

lr = 2.0
for step in range(2001):
    pred = ((x @ w1 + b1).tanh() @ w2 + b2).sigmoid()   # step 1: the network
    loss = ((pred - y) ** 2).mean()                      # step 2: the loss
    loss.backward()                                      # backpropagation
    with lamina.no_grad():                               # step 3: gradient descent
        for p in params:
            p -= lr * p.grad
            p.grad = None
    if step % 250 == 0:
        print(f"step {step:5d}  loss {loss.item():.5f}")

print("predictions:", [round(v, 3) for v in pred.detach().numpy().ravel().tolist()])
print("targets:    ", y.numpy().ravel().tolist())
